// TUN offloads against the kernel, in a private network namespace (topology in netns_tun.hpp):
//
//   kernel sockets in the netns        TunDevice "ptuntest0" (offloads)   the test, as the peer
//   10.200.0.1 / fd20::1   <-- super-packets / GSO -->  read_batch / write_batch  (10.200.0.2)
//
// Reading: a kernel TCP connection to 10.200.0.2 or fd20::2 (the test plays a minimal receiver: SYN-ACK,
// then cumulative ACKs) and a UDP_SEGMENT send leave the kernel as TSO/USO super-packets; each
// must come out of read_batch as MTU-sized packets with correct checksums whose payloads
// concatenate to what was sent. Writing: segments of a TCP stream to a kernel listener go through
// write_batch, coalesced; the kernel must accept the super-packets and deliver every byte.
#include <catch2/catch.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "netlink/netns_child.hpp"
#include "offload/tcp_packets.hpp"
#include "tun/netns_tun.hpp"

using namespace ptun;
using namespace ptun::tun;
using namespace ptun::test;

namespace {

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

const IpAddr kHost4 = *IpAddr::parse("10.200.0.1");
const IpAddr kPeer4 = *IpAddr::parse("10.200.0.2");
const IpAddr kHost6 = *IpAddr::parse("fd20::1");
const IpAddr kPeer6 = *IpAddr::parse("fd20::2");

uint32_t load32(const uint8_t* p) { return uint32_t(get16(p)) << 16 | get16(p + 2); }

struct Bufs {
  BufferPool pool;
  std::vector<PacketBuf*> v;
  explicit Bufs(size_t n = 64) : pool(n) {
    while (PacketBuf* b = pool.get()) v.push_back(b);
  }
};

// The TCP packet to dport, if p is one (IPv4 without options / IPv6 without extension headers).
bool is_tcp(std::span<const uint8_t> p, uint16_t dport, bool v6 = false) {
  if (v6) return p.size() >= 60 && (p[0] >> 4) == 6 && p[6] == 6 && get16(&p[42]) == dport;
  return p.size() >= 40 && p[0] == 0x45 && p[9] == 6 && get16(&p[22]) == dport;
}

int tcp_socket_to(const Endpoint& to) {
  int s = socket(to.addr.is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_storage ss;
  socklen_t len = to.to_sockaddr(&ss);
  if (s >= 0 && connect(s, reinterpret_cast<sockaddr*>(&ss), len) < 0 && errno != EINPROGRESS) {
    close(s);
    return -1;
  }
  return s;
}

}  // namespace

TEST_CASE("TUN offload: a kernel TCP stream comes out as MTU-sized valid segments", "[tun][netns]") {
  // 64 buffers per read_batch, and 5: then most super-packets (up to ~48 segments) are handed
  // out over several calls, from the segments kept back.
  const size_t nbufs = GENERATE(64, 5);
  const bool v6 = GENERATE(false, true);  // TSO4 and TSO6
  run_in_netns([nbufs, v6](ChildChecks& c) {
    const size_t l3 = v6 ? 40 : 20;
    const IpAddr host = v6 ? kHost6 : kHost4, peer_addr = v6 ? kPeer6 : kPeer4;
    const uint16_t mss = uint16_t(kTestMtu - l3 - 20);
    auto nl = netlink::Rtnl::open();
    CHILD_OK(c, nl);
    auto tun = setup_tun(c, **nl);
    if (!tun) return;
    CHILD_CHECK(c, tun->offload_mode() == OffloadMode::tso || tun->offload_mode() == OffloadMode::tso_uso);
    constexpr uint16_t kPort = 8080;
    int s = tcp_socket_to(Endpoint{peer_addr, kPort});
    CHILD_CHECK(c, s >= 0);
    if (s < 0) return;
    Bufs bufs(nbufs);

    // The SYN, answered with a SYN-ACK (MSS: headers + MSS = the MTU; no window scaling).
    uint16_t sport = 0;
    uint32_t isn = 0;
    for (int i = 0; i < 40 && sport == 0; ++i) {
      if (!wait_readable(tun->fd(), 50)) continue;
      auto n = tun->read_batch(bufs.v);
      for (size_t k = 0; n.ok() && k < *n; ++k) {
        auto p = bufs.v[k]->span();
        if (is_tcp(p, kPort, v6) && (p[l3 + 13] & 0x02)) {
          sport = get16(&p[l3]);
          isn = load32(&p[l3 + 4]);
        }
      }
    }
    CHILD_CHECK(c, sport != 0);
    if (sport == 0) return;
    TcpSpec peer;
    peer.src = peer_addr;
    peer.dst = host;
    peer.sport = kPort;
    peer.dport = sport;
    peer.seq = 7000;
    peer.ack = isn + 1;
    peer.flags = 0x12;
    peer.win = 65535;
    peer.options = {2, 4, uint8_t(mss >> 8), uint8_t(mss)};
    CHILD_OK(c, tun->write(tcp_packet(peer, {})));
    peer.seq += 1;
    peer.flags = 0x10;
    peer.options.clear();

    // 400 KB from the kernel, ACKed as it arrives.
    const std::vector<uint8_t> data = pattern(400 * 1024, 1);
    size_t sent = 0;
    std::vector<uint8_t> got;
    size_t segments = 0, full = 0, too_big = 0, bad_csum = 0;
    for (int i = 0; i < 600 && got.size() < data.size(); ++i) {
      while (sent < data.size()) {
        ssize_t w = send(s, data.data() + sent, data.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w <= 0) break;
        sent += size_t(w);
      }
      if (!wait_readable(tun->fd(), 50)) continue;
      size_t before = got.size();
      for (;;) {
        auto n = tun->read_batch(bufs.v);
        if (!n.ok()) break;
        for (size_t k = 0; k < *n; ++k) {
          auto p = bufs.v[k]->span();
          if (!is_tcp(p, kPort, v6) || get16(&p[l3]) != sport) continue;
          size_t hl = l3 + size_t(p[l3 + 12] >> 4) * 4;
          if (p.size() <= hl) continue;  // pure ACK
          ++segments;
          too_big += p.size() > kTestMtu;
          full += p.size() == kTestMtu;
          bad_csum += (!v6 && !ip4_ok(p)) || !l4_ok(p, 6);
          uint32_t off = load32(&p[l3 + 4]) - (isn + 1);
          if (off == got.size()) got.insert(got.end(), p.begin() + long(hl), p.end());
          // anything else is a retransmission or beyond a loss: the ACK below sorts it out
        }
        if (*n < bufs.v.size()) break;
      }
      if (got.size() != before || i % 10 == 0) {
        peer.ack = isn + 1 + uint32_t(got.size());
        CHILD_OK(c, tun->write(tcp_packet(peer, {})));
      }
    }
    CHILD_CHECK(c, got.size() == data.size());
    CHILD_CHECK(c, got == data);
    CHILD_CHECK(c, too_big == 0);
    CHILD_CHECK(c, bad_csum == 0);
    CHILD_CHECK(c, full * 2 > segments);  // mostly MSS-sized
    DeviceStats st = tun->stats();
    CHILD_CHECK(c, st.rx_gso > 0);  // the kernel did hand over super-packets
    CHILD_CHECK(c, st.rx_packets > st.rx_gso);
    CHILD_CHECK(c, st.rx_reads < st.rx_packets);  // fewer syscalls than packets
    if (st.rx_gso == 0 || got != data)
      c.fail(__FILE__, __LINE__, "segments " + std::to_string(segments) + " rx_gso " +
                                     std::to_string(st.rx_gso) + " got " + std::to_string(got.size()));
    close(s);
  });
}

TEST_CASE("TUN offload: a UDP_SEGMENT send is split into its datagrams (USO)", "[tun][netns]") {
  run_in_netns([](ChildChecks& c) {
    auto nl = netlink::Rtnl::open();
    CHILD_OK(c, nl);
    auto tun = setup_tun(c, **nl);
    if (!tun) return;
    for (bool v6 : {false, true}) {
      int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      CHILD_CHECK(c, s >= 0);
      int seg = 1000;
      CHILD_CHECK(c, setsockopt(s, IPPROTO_UDP, UDP_SEGMENT, &seg, sizeof seg) == 0);
      Endpoint to{*IpAddr::parse(v6 ? "fd20::2" : "10.200.0.2"), 9000};
      sockaddr_storage ss;
      socklen_t len = to.to_sockaddr(&ss);
      const std::vector<uint8_t> data = pattern(10 * 1000 + 300, 2);
      CHILD_CHECK(c, sendto(s, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) ==
                         ssize_t(data.size()));
      Bufs bufs;
      std::vector<uint8_t> got;
      size_t dgrams = 0, bad = 0;
      for (int i = 0; i < 40 && got.size() < data.size(); ++i) {
        if (!wait_readable(tun->fd(), 50)) continue;
        auto n = tun->read_batch(bufs.v);
        for (size_t k = 0; n.ok() && k < *n; ++k) {
          auto p = bufs.v[k]->span();
          size_t l3 = v6 ? 40 : 20;
          if (p.size() < l3 + 8 || (p[0] >> 4) != (v6 ? 6 : 4) || p[v6 ? 6 : 9] != 17 ||
              get16(&p[l3 + 2]) != 9000)
            continue;
          ++dgrams;
          bad += !l4_ok(p, 17) || (!v6 && !ip4_ok(p)) || get16(&p[l3 + 4]) != p.size() - l3;
          got.insert(got.end(), p.begin() + long(l3 + 8), p.end());
        }
      }
      INFO((v6 ? "IPv6" : "IPv4"));
      CHILD_CHECK(c, dgrams == 11);
      CHILD_CHECK(c, bad == 0);
      CHILD_CHECK(c, got == data);
      close(s);
    }
    // Without USO (Linux < 6.2) the kernel segments UDP itself: the datagrams arrive either way,
    // and only with USO as one super-packet.
    if (tun->offload_mode() == OffloadMode::tso_uso) CHILD_CHECK(c, tun->stats().rx_gso >= 2);
  });
}

TEST_CASE("TUN offload: coalesced TCP segments are accepted by the kernel", "[tun][netns]") {
  run_in_netns([](ChildChecks& c) {
    auto nl = netlink::Rtnl::open();
    CHILD_OK(c, nl);
    auto tun = setup_tun(c, **nl);
    if (!tun) return;
    constexpr uint16_t kPort = 8081;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    Endpoint at{kHost4, kPort};
    sockaddr_storage ss;
    socklen_t len = at.to_sockaddr(&ss);
    CHILD_CHECK(c, bind(ls, reinterpret_cast<sockaddr*>(&ss), len) == 0 && listen(ls, 4) == 0);
    Bufs bufs;

    // Handshake from the peer side: SYN, read the SYN-ACK, ACK.
    TcpSpec peer;
    peer.src = kPeer4;
    peer.dst = kHost4;
    peer.sport = 33000;
    peer.dport = kPort;
    peer.seq = 100000;
    peer.ack = 0;
    peer.flags = 0x02;
    peer.win = 65535;
    peer.options = {2, 4, 1360 >> 8, 1360 & 0xff};
    CHILD_OK(c, tun->write(tcp_packet(peer, {})));
    uint32_t server_isn = 0;
    bool synack = false;
    for (int i = 0; i < 40 && !synack; ++i) {
      if (!wait_readable(tun->fd(), 50)) continue;
      auto n = tun->read_batch(bufs.v);
      for (size_t k = 0; n.ok() && k < *n; ++k) {
        auto p = bufs.v[k]->span();
        if (p.size() >= 40 && p[9] == 6 && get16(&p[20]) == kPort && (p[33] & 0x12) == 0x12) {
          synack = true;
          server_isn = load32(&p[24]);
        }
      }
    }
    CHILD_CHECK(c, synack);
    if (!synack) return;
    peer.seq += 1;
    peer.ack = server_isn + 1;
    peer.flags = 0x10;
    peer.options.clear();
    CHILD_OK(c, tun->write(tcp_packet(peer, {})));
    int s = -1;
    for (int i = 0; i < 40 && s < 0; ++i) {
      if (wait_readable(ls, 50)) s = accept4(ls, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    }
    CHILD_CHECK(c, s >= 0);
    if (s < 0) return;

    // 320 KB in batches of 32 segments of 1000 bytes (within the unscaled window), each batch
    // one write_batch, then read back by the kernel socket before the next.
    const std::vector<uint8_t> data = pattern(320 * 1000, 3);
    std::vector<uint8_t> got;
    size_t off = 0;
    BufferPool out(64);
    for (int round = 0; round < 10; ++round) {
      std::vector<PacketBuf*> batch;
      for (int k = 0; k < 32; ++k, off += 1000) {
        TcpSpec t = peer;
        t.seq = peer.seq + uint32_t(off);
        t.ip_id = uint16_t(off / 1000);
        t.flags = k == 31 ? 0x18 : 0x10;
        batch.push_back(out.copy(tcp_packet(t, std::span<const uint8_t>(data).subspan(off, 1000))));
      }
      auto w = tun->write_batch(batch);
      CHILD_OK(c, w);
      CHILD_CHECK(c, *w == 32);
      for (PacketBuf* b : batch) out.put(b);
      for (int i = 0; i < 40 && got.size() < off; ++i) {
        if (!wait_readable(s, 50)) continue;
        uint8_t buf[65536];
        ssize_t r;
        while ((r = recv(s, buf, sizeof buf, MSG_DONTWAIT)) > 0) got.insert(got.end(), buf, buf + r);
      }
      // Drain the kernel's ACKs from the TUN so its queue never fills.
      while (tun->read_batch(bufs.v).value() == bufs.v.size()) {
      }
    }
    CHILD_CHECK(c, got.size() == data.size());
    CHILD_CHECK(c, got == data);
    DeviceStats st = tun->stats();
    CHILD_CHECK(c, st.tx_gso >= 10);            // at least one super-packet per batch
    CHILD_CHECK(c, st.tx_coalesced >= 10 * 30);  // nearly every segment inside one
    CHILD_CHECK(c, st.tx_rejected == 0);
    CHILD_CHECK(c, st.tx_writes * 4 < st.tx_packets);
    close(s);
    close(ls);
  });
}

TEST_CASE("TUN offload: opened without offloads, the device has no virtio-net header", "[tun][netns]") {
  run_in_netns([](ChildChecks& c) {
    auto nl = netlink::Rtnl::open();
    CHILD_OK(c, nl);
    auto tun = setup_tun(c, **nl, false);
    if (!tun) return;
    CHILD_CHECK(c, tun->offload_mode() == OffloadMode::none);
    // The UDP_SEGMENT send still arrives, as datagrams the kernel cut itself.
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int seg = 500;
    CHILD_CHECK(c, setsockopt(s, IPPROTO_UDP, UDP_SEGMENT, &seg, sizeof seg) == 0);
    Endpoint to{kPeer4, 9001};
    sockaddr_storage ss;
    socklen_t len = to.to_sockaddr(&ss);
    const std::vector<uint8_t> data = pattern(2000, 4);
    CHILD_CHECK(c, sendto(s, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) == 2000);
    Bufs bufs;
    size_t dgrams = 0;
    for (int i = 0; i < 40 && dgrams < 4; ++i) {
      if (!wait_readable(tun->fd(), 50)) continue;
      auto n = tun->read_batch(bufs.v);
      for (size_t k = 0; n.ok() && k < *n; ++k) {
        auto p = bufs.v[k]->span();
        if (p.size() == 20 + 8 + 500 && p[9] == 17 && get16(&p[22]) == 9001 && l4_ok(p, 17)) ++dgrams;
      }
    }
    CHILD_CHECK(c, dgrams == 4);
    CHILD_CHECK(c, tun->stats().rx_gso == 0);
    close(s);
  });
}
