// ptun-offload-bench: the TUN offloads, measured.
//
//   split:    Segmenter cutting one 64 KiB TCPv4 super-packet (MSS 1448, 46 segments) into pool
//             buffers, repeated for about a second: segments/s and Gbit/s of payload
//   merge:    Coalescer plan + build over 45 in-order segments of 1448 bytes: segments/s
//   kernel:   (root) in a network namespace of its own, a TUN with offloads on, then off, MTU 1400:
//             read   a kernel TCP socket sends --mb MB to a peer behind the TUN; this program is
//                    the peer (read_batch, cumulative ACKs written back)
//             write  this program sends --mb MB as TCP segments (batches of 44 x 1360 bytes,
//                    write_batch) to a kernel socket behind the TUN, which reads them
//             each:  TUN read or write syscalls per MB, packets, super-packets, seconds
//
// usage: ptun-offload-bench [--mb N] [--no-kernel]      one JSON object per line on stdout
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "netlink/rtnl.hpp"
#include "offload/coalesce.hpp"
#include "offload/segment.hpp"
#include "packet/checksum.hpp"
#include "packet/parse.hpp"
#include "tun/tun_linux.hpp"

using namespace ptun;
using Clock = std::chrono::steady_clock;

namespace {

double secs_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
void put16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8), p[1] = uint8_t(v); }
void put32(uint8_t* p, uint32_t v) { put16(p, uint16_t(v >> 16)), put16(p + 2, uint16_t(v)); }
uint32_t get32(const uint8_t* p) { return uint32_t(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
uint16_t get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

struct Tcp {
  IpAddr src, dst;
  uint16_t sport, dport;
  uint32_t seq, ack;
  uint8_t flags;
  std::vector<uint8_t> options;
};

// An IPv4 TCP packet with correct checksums (through src/packet).
std::vector<uint8_t> tcp4(const Tcp& t, std::span<const uint8_t> payload, uint16_t id = 0) {
  size_t th = 20 + t.options.size();
  std::vector<uint8_t> p(20 + th + payload.size());
  p[0] = 0x45;
  put16(&p[2], uint16_t(p.size()));
  put16(&p[4], id);
  p[6] = 0x40;
  p[8] = 64;
  p[9] = 6;
  std::memcpy(&p[12], t.src.bytes.data(), 4);
  std::memcpy(&p[16], t.dst.bytes.data(), 4);
  uint8_t* h = &p[20];
  put16(h, t.sport);
  put16(h + 2, t.dport);
  put32(h + 4, t.seq);
  put32(h + 8, t.ack);
  h[12] = uint8_t(th / 4 << 4);
  h[13] = t.flags;
  put16(h + 14, 65535);
  std::copy(t.options.begin(), t.options.end(), h + 20);
  std::copy(payload.begin(), payload.end(), h + th);
  packet::Parsed parsed;
  packet::parse(p, &parsed);
  packet::fill_l4_checksum(parsed, p);
  packet::fill_ipv4_header_checksum(p);
  return p;
}

void bench_split() {
  std::vector<uint8_t> payload(65535 - 40, 0x5a);
  Tcp t{*IpAddr::parse("10.0.0.1"), *IpAddr::parse("10.0.0.2"), 1, 2, 1, 1, 0x18, {}};
  std::vector<uint8_t> sp = tcp4(t, payload);
  offload::VnetHdr h;
  h.flags = offload::kVnetNeedsCsum;
  h.gso_type = offload::kGsoTcpV4;
  h.gso_size = 1448;
  h.hdr_len = 40;
  h.csum_start = 20;
  h.csum_offset = 16;
  BufferPool pool(64);
  std::vector<PacketBuf*> bufs;
  while (PacketBuf* b = pool.get()) bufs.push_back(b);
  offload::Segmenter seg;
  size_t segs = 0, bytes = 0, supers = 0;
  auto t0 = Clock::now();
  while (secs_since(t0) < 1.0) {
    for (int k = 0; k < 100; ++k, ++supers) {
      seg.start(h, sp, limits::kPacketBufSize - limits::kHeadroom);
      for (size_t i = 0; !seg.done(); ++i, ++segs) {
        seg.next(bufs[i]);
        bytes += bufs[i]->len - 40;
      }
    }
  }
  double s = secs_since(t0);
  std::printf("{\"bench\":\"split\",\"super_packets_per_s\":%.0f,\"segments_per_s\":%.0f,"
              "\"payload_gbit_per_s\":%.2f,\"segments_per_super\":%zu}\n",
              double(supers) / s, double(segs) / s, double(bytes) * 8 / s / 1e9, segs / supers);

  // The merge: 45 segments of 1448 bytes, back into one super-packet per plan.
  BufferPool seg_pool(45);
  std::vector<PacketBuf*> in;
  for (size_t i = 0; i < 45; ++i) {
    Tcp ti = t;
    ti.seq = uint32_t(1 + i * 1448);
    ti.flags = 0x10;
    in.push_back(seg_pool.copy(tcp4(ti, std::span<const uint8_t>(payload).first(1448), uint16_t(i))));
  }
  offload::Coalescer co;
  size_t merged = 0, groups = 0;
  t0 = Clock::now();
  while (secs_since(t0) < 1.0) {
    for (int k = 0; k < 100; ++k) {
      co.plan(in);
      for (size_t g = 0; g < co.groups(); ++g, ++groups) merged += co.build(g).size() - 1;
    }
  }
  s = secs_since(t0);
  std::printf("{\"bench\":\"merge\",\"segments_per_s\":%.0f,\"super_packets_per_s\":%.0f,"
              "\"segments_per_super\":%zu}\n",
              double(merged) / s, double(groups) / s, merged / groups);
}

bool wait_readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, ms) == 1;
}

const IpAddr kHost = *IpAddr::parse("10.200.0.1");
const IpAddr kPeer = *IpAddr::parse("10.200.0.2");

void report(const char* dir, const tun::TunDevice& tun, size_t bytes, double s, bool complete) {
  tun::DeviceStats st = tun.stats();
  double mb = double(bytes) / (1 << 20);
  bool rd = std::strcmp(dir, "read") == 0;
  std::printf("{\"bench\":\"kernel_%s\",\"offload\":\"%s\",\"mb\":%.1f,\"syscalls_per_mb\":%.1f,"
              "\"packets\":%llu,\"super_packets\":%llu,\"seconds\":%.2f,\"complete\":%s}\n",
              dir, to_string(tun.offload_mode()), mb,
              double(rd ? st.rx_reads : st.tx_writes) / mb,
              (unsigned long long)(rd ? st.rx_packets : st.tx_packets),
              (unsigned long long)(rd ? st.rx_gso : st.tx_gso), s, complete ? "true" : "false");
}

// A kernel TCP socket sends `mb` MB through the TUN; we are the receiving peer.
void bench_read(tun::TunDevice& tun, size_t mb) {
  const size_t total = mb << 20;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_storage ss;
  socklen_t sl = Endpoint{kPeer, 8080}.to_sockaddr(&ss);
  connect(s, reinterpret_cast<sockaddr*>(&ss), sl);
  BufferPool pool(64);
  std::vector<PacketBuf*> bufs;
  while (PacketBuf* b = pool.get()) bufs.push_back(b);
  uint16_t sport = 0;
  uint32_t isn = 0;
  for (int i = 0; i < 100 && sport == 0; ++i) {
    if (!wait_readable(tun.fd(), 20)) continue;
    auto n = tun.read_batch(bufs);
    for (size_t k = 0; n.ok() && k < *n; ++k) {
      const uint8_t* p = bufs[k]->data();
      if (p[9] == 6 && (p[33] & 0x02)) sport = get16(p + 20), isn = get32(p + 24);
    }
  }
  if (sport == 0) {
    std::fprintf(stderr, "read: no SYN from the kernel\n");
    close(s);
    return;
  }
  Tcp peer{kPeer, kHost, 8080, sport, 7000, isn + 1, 0x12, {2, 4, 1360 >> 8, 1360 & 0xff}};
  (void)tun.write(tcp4(peer, {}));
  peer.seq++, peer.flags = 0x10, peer.options.clear();
  std::vector<uint8_t> chunk(256 * 1024, 0x42);
  size_t sent = 0, got = 0;
  auto t0 = Clock::now();
  while (got < total && secs_since(t0) < 60) {
    while (sent < total) {
      ssize_t w = send(s, chunk.data(), std::min(chunk.size(), total - sent), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w <= 0) break;
      sent += size_t(w);
    }
    if (!wait_readable(tun.fd(), 20)) {
      peer.ack = isn + 1 + uint32_t(got);
      (void)tun.write(tcp4(peer, {}));  // a lost ACK must not stall the run
      continue;
    }
    size_t before = got;
    for (;;) {
      auto n = tun.read_batch(bufs);
      if (!n.ok()) break;
      for (size_t k = 0; k < *n; ++k) {
        const uint8_t* p = bufs[k]->data();
        if (p[9] != 6 || get16(p + 20) != sport) continue;
        size_t hl = 20 + size_t(p[32] >> 4) * 4;
        if (get32(p + 24) - (isn + 1) == got) got += bufs[k]->len - hl;
      }
      if (*n < bufs.size()) break;
    }
    if (got != before) {
      peer.ack = isn + 1 + uint32_t(got);
      (void)tun.write(tcp4(peer, {}));
    }
  }
  report("read", tun, got, secs_since(t0), got >= total);
  close(s);
}

// We send `mb` MB as TCP segments through the TUN to a kernel socket that reads them.
void bench_write(tun::TunDevice& tun, size_t mb, uint16_t sport) {
  const size_t total = mb << 20;
  constexpr size_t kMss = 1360, kBatch = 44;
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss;
  socklen_t sl = Endpoint{kHost, 8081}.to_sockaddr(&ss);
  bind(ls, reinterpret_cast<sockaddr*>(&ss), sl);
  listen(ls, 1);
  BufferPool pool(128);
  std::vector<PacketBuf*> bufs;
  for (int i = 0; i < 64; ++i) bufs.push_back(pool.get());
  // A port of its own per run: the previous run's connection may linger (never closed by us).
  Tcp peer{kPeer, kHost, sport, 8081, 100000, 0, 0x02, {2, 4, kMss >> 8, kMss & 0xff}};
  (void)tun.write(tcp4(peer, {}));
  uint32_t server_isn = 0;
  bool synack = false;
  for (int i = 0; i < 100 && !synack; ++i) {
    if (!wait_readable(tun.fd(), 20)) continue;
    auto n = tun.read_batch(bufs);
    for (size_t k = 0; n.ok() && k < *n; ++k) {
      const uint8_t* p = bufs[k]->data();
      if (p[9] == 6 && get16(p + 20) == 8081 && (p[33] & 0x12) == 0x12) {
        synack = true;
        server_isn = get32(p + 24);
      }
    }
  }
  int s = -1;
  if (synack) {
    peer.seq++, peer.ack = server_isn + 1, peer.flags = 0x10, peer.options.clear();
    (void)tun.write(tcp4(peer, {}));
    if (wait_readable(ls, 1000)) s = accept4(ls, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  }
  if (s < 0) {
    std::fprintf(stderr, "write: no connection\n");
    close(ls);
    return;
  }
  // Segments are built before the clock starts: the figure is the TUN's, not the builder's.
  std::vector<uint8_t> payload(kMss, 0x33);
  std::vector<std::vector<uint8_t>> segs;
  const size_t nseg = (total + kMss - 1) / kMss;
  std::vector<PacketBuf*> out;
  size_t got = 0;
  uint8_t rbuf[1 << 16];
  auto t0 = Clock::now();
  double build_s = 0;
  for (size_t i = 0; i < nseg && secs_since(t0) < 60;) {
    auto b0 = Clock::now();
    out.clear();
    for (size_t k = 0; k < kBatch && i < nseg; ++k, ++i) {
      Tcp t = peer;
      t.seq = peer.seq + uint32_t(i * kMss);
      PacketBuf* b = pool.copy(tcp4(t, payload, uint16_t(i)));
      out.push_back(b);
    }
    build_s += secs_since(b0);
    (void)tun.write_batch(out);
    for (PacketBuf* b : out) pool.put(b);
    size_t want = std::min(i * kMss, nseg * kMss);
    for (int w = 0; w < 100 && got < want; ++w) {
      ssize_t r;
      while ((r = recv(s, rbuf, sizeof rbuf, MSG_DONTWAIT)) > 0) got += size_t(r);
      if (got < want) wait_readable(s, 10);
    }
    for (int d = 0; d < 100; ++d) {  // the kernel's ACKs, so the TUN queue never fills
      auto r = tun.read_batch(bufs);
      if (!r.ok() || *r < bufs.size()) break;
    }
  }
  report("write", tun, got, secs_since(t0) - build_s, got >= nseg * kMss);
  close(s);
  close(ls);
}

std::unique_ptr<tun::TunDevice> make_tun(netlink::Rtnl& nl, bool offload) {
  tun::TunOptions o{"ptunbench0"};
  o.offload = offload;
  auto t = tun::TunDevice::open(o);
  if (!t.ok()) {
    std::fprintf(stderr, "open: %s\n", t.error().message.c_str());
    return nullptr;
  }
  auto r = (*t)->configure(nl, 1400, {*Cidr::parse_interface("10.200.0.1/24")});
  if (!r.ok()) {
    std::fprintf(stderr, "configure: %s\n", r.error().message.c_str());
    return nullptr;
  }
  return std::move(*t);
}

}  // namespace

int main(int argc, char** argv) {
  size_t mb = 64;
  bool kernel = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--mb" && i + 1 < argc) {
      mb = std::stoul(argv[++i]);
    } else if (a == "--no-kernel") {
      kernel = false;
    } else {
      std::fprintf(stderr, "usage: ptun-offload-bench [--mb N] [--no-kernel]\n");
      return 2;
    }
  }
  log::set_level(log::Level::warn);
  bench_split();
  if (!kernel) return 0;
  if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "kernel part skipped: needs root (a network namespace of its own)\n");
    return 0;
  }
  auto nl = netlink::Rtnl::open();
  if (!nl.ok()) return 1;
  auto lo = (*nl)->link_index("lo");
  if (lo.ok()) (void)(*nl)->link_set_up(*lo, true);
  for (bool offload : {true, false}) {
    {
      auto t = make_tun(**nl, offload);
      if (!t) return 1;
      bench_read(*t, mb);
    }
    {
      auto t = make_tun(**nl, offload);
      if (!t) return 1;
      bench_write(*t, mb, offload ? 33000 : 33001);
    }
  }
  return 0;
}
