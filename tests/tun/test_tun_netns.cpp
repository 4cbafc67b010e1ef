// TunDevice against the kernel, in a private network namespace (see netns_child.hpp):
//
//   UDP sockets in the netns          TunDevice "ptuntest0"             the test, as "the peer"
//   10.200.0.1 / fd20::1   <---->  10.200.0.1/24, fd20::1/64, MTU 1400  <---->  read_batch/write
//                                  (peer addresses 10.200.0.2, fd20::2)
//
// Packets a socket sends to 10.200.0.0/24 come out of read_batch; packets the test writes to the
// TUN addressed to 10.200.0.1 reach sockets bound there. IPv6 noise (router solicitations, MLD)
// may also come out of the TUN at any time, so readers filter for what they expect.
#include <catch2/catch.hpp>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "netlink/netns_child.hpp"
#include "tun/netns_tun.hpp"
#include "tun/test_packets.hpp"
#include "tun/tun_linux.hpp"

using namespace ptun;
using namespace ptun::tun;
using ptun::test::ChildChecks;
using ptun::test::wait_readable;

namespace {

IpAddr ip(const char* s) { return *IpAddr::parse(s); }
const std::string kPayload = "hello through the tun";
std::span<const uint8_t> payload() {
  return {reinterpret_cast<const uint8_t*>(kPayload.data()), kPayload.size()};
}

// A UDP socket, optionally bound; -1 on failure.
int udp_socket(const Endpoint* bind_to, Family f) {
  int s = socket(f == Family::v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0 || !bind_to) return s;
  sockaddr_storage ss;
  socklen_t len = bind_to->to_sockaddr(&ss);
  if (bind(s, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    close(s);
    return -1;
  }
  return s;
}

bool send_to(int s, const Endpoint& to, std::span<const uint8_t> data) {
  sockaddr_storage ss;
  socklen_t len = to.to_sockaddr(&ss);
  return sendto(s, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) ==
         ssize_t(data.size());
}

// Is `p` a UDP datagram to dst:dport (v4 or v6, no extension headers) carrying kPayload?
bool is_udp_to(std::span<const uint8_t> p, const IpAddr& dst, uint16_t dport) {
  if (p.size() < 28) return false;
  size_t l4;
  if (dst.is_v4()) {
    if ((p[0] >> 4) != 4 || p[9] != 17 || std::memcmp(&p[16], dst.bytes.data(), 4) != 0) return false;
    l4 = size_t(p[0] & 0xf) * 4;
  } else {
    if (p.size() < 48 || (p[0] >> 4) != 6 || p[6] != 17 ||
        std::memcmp(&p[24], dst.bytes.data(), 16) != 0)
      return false;
    l4 = 40;
  }
  if (p.size() < l4 + 8 + kPayload.size() || test::get16(&p[l4 + 2]) != dport) return false;
  return std::memcmp(&p[l4 + 8], kPayload.data(), kPayload.size()) == 0;
}

// Reads from the TUN until a packet matching `want` arrives (true) or ~2 s pass.
template <typename Want>
bool read_until(TunDevice& tun, BufferPool& pool, Want&& want) {
  PacketBuf* b = pool.get();
  PacketBuf* bufs[] = {b};
  bool found = false;
  for (int i = 0; i < 40 && !found; ++i) {
    if (!wait_readable(tun.fd(), 50)) continue;
    auto n = tun.read_batch(bufs);
    if (n.ok() && *n == 1) found = want(std::span<const uint8_t>(b->span()));
  }
  pool.put(b);
  return found;
}

uint64_t fake_now_ns = 1'000'000'000;
uint64_t fake_clock() { return fake_now_ns; }

}  // namespace

TEST_CASE("TUN: open, configure, packets both ways", "[tun][netns]") {
  // With a virtio-net header (offloads) and without: the same contract.
  const bool offload = GENERATE(true, false);
  ptun::test::run_in_netns([offload](ChildChecks& c) {
    auto nl = netlink::Rtnl::open();
    CHILD_OK(c, nl);
    auto tun = ptun::test::setup_tun(c, **nl, offload);
    if (!tun) return;
    CHILD_CHECK(c, (tun->offload_mode() != OffloadMode::none) == offload);
    CHILD_CHECK(c, tun->name() == "ptuntest0");
    CHILD_CHECK(c, tun->fd() >= 0);
    auto link = (*nl)->link_get(tun->ifindex());
    CHILD_OK(c, link);
    CHILD_CHECK(c, link->name == "ptuntest0" && link->mtu == 1400 && link->up);
    // Configuring again (as after re-attaching to a persistent TUN) is fine.
    CHILD_OK(c, tun->configure(**nl, 1400, {*Cidr::parse_interface("10.200.0.1/24")}));
    CHILD_CHECK(c, tun->configure(**nl, 9000, {}).error().code == Errc::invalid_argument);

    BufferPool pool(64);
    // Host -> TUN, IPv4 and IPv6.
    int s4 = udp_socket(nullptr, Family::v4);
    int s6 = udp_socket(nullptr, Family::v6);
    CHILD_CHECK(c, s4 >= 0 && s6 >= 0);
    CHILD_CHECK(c, send_to(s4, Endpoint{ip("10.200.0.2"), 9999}, payload()));
    CHILD_CHECK(c, read_until(*tun, pool, [](std::span<const uint8_t> p) {
      return is_udp_to(p, ip("10.200.0.2"), 9999) && p[12] == 10 && p[15] == 1;  // src 10.200.0.1
    }));
    CHILD_CHECK(c, send_to(s6, Endpoint{ip("fd20::2"), 9998}, payload()));
    CHILD_CHECK(c, read_until(*tun, pool, [](std::span<const uint8_t> p) {
      return is_udp_to(p, ip("fd20::2"), 9998);
    }));

    // TUN -> host: crafted UDP datagrams reach sockets bound to the TUN's addresses.
    Endpoint at4{ip("10.200.0.1"), 7777}, at6{ip("fd20::1"), 7777};
    int r4 = udp_socket(&at4, Family::v4);
    int r6 = udp_socket(&at6, Family::v6);
    CHILD_CHECK(c, r4 >= 0 && r6 >= 0);
    CHILD_OK(c, tun->write(test::udp4(ip("10.200.0.2"), 5555, at4.addr, 7777, payload())));
    CHILD_OK(c, tun->write(test::udp6(ip("fd20::2"), 5556, at6.addr, 7777, payload())));
    for (auto [s, from] : {std::pair{r4, Endpoint{ip("10.200.0.2"), 5555}},
                           std::pair{r6, Endpoint{ip("fd20::2"), 5556}}}) {
      char buf[256];
      sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      if (!wait_readable(s, 2000)) c.fail(__FILE__, __LINE__, "nothing arrived from " + from.str());
      ssize_t n = recvfrom(s, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&ss), &sl);
      CHILD_CHECK(c, n == ssize_t(kPayload.size()) && std::memcmp(buf, kPayload.data(), n) == 0);
      CHILD_CHECK(c, Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss)) == from);
    }

    // An ICMP echo request written to the TUN is answered by the kernel through the TUN.
    std::vector<uint8_t> ping = test::icmp4_echo(ip("10.200.0.2"), ip("10.200.0.1"), 0x77, 1, payload());
    CHILD_OK(c, tun->write(ping));
    CHILD_CHECK(c, read_until(*tun, pool, [](std::span<const uint8_t> p) {
      return p.size() >= 28 && (p[0] >> 4) == 4 && p[9] == 1 && p[20] == 0 /* echo reply */ &&
             test::get16(&p[24]) == 0x77 && p[19] == 2 /* to 10.200.0.2 */;
    }));

    // write_batch: a malformed packet is refused alone and the rest go through.
    std::vector<PacketBuf*> batch;
    for (int i = 0; i < 5; ++i) {
      PacketBuf* b = pool.get();
      auto p = test::udp4(ip("10.200.0.2"), uint16_t(6000 + i), at4.addr, 7777, payload());
      std::memcpy(b->data(), p.data(), p.size());
      b->len = uint32_t(p.size());
      batch.push_back(b);
    }
    batch[2]->data()[0] = 0x25;  // IP version 2: the TUN driver refuses it
    auto w = tun->write_batch(batch);
    CHILD_OK(c, w);
    CHILD_CHECK(c, *w == 4);
    CHILD_CHECK(c, tun->stats().tx_rejected == 1);
    int got = 0;
    while (got < 4 && wait_readable(r4, 2000)) {
      char buf[256];
      if (recv(r4, buf, sizeof buf, MSG_DONTWAIT) == ssize_t(kPayload.size())) ++got;
    }
    CHILD_CHECK(c, got == 4);
    for (PacketBuf* b : batch) pool.put(b);
    for (int fd : {s4, s6, r4, r6}) close(fd);
  });
}

TEST_CASE("TUN: 50 packets drained in batches, but a single read after an idle spell", "[tun][netns]") {
  const bool offload = GENERATE(true, false);
  ptun::test::run_in_netns([offload](ChildChecks& c) {
    auto nl = netlink::Rtnl::open();
    CHILD_OK(c, nl);
    auto tun = ptun::test::setup_tun(c, **nl, offload);
    if (!tun) return;
    tun->set_clock_for_test(fake_clock);
    int s = udp_socket(nullptr, Family::v4);
    CHILD_CHECK(c, s >= 0);
    auto send = [&](int n) {
      for (int i = 0; i < n; ++i) CHILD_CHECK(c, send_to(s, Endpoint{ip("10.200.0.3"), 9000}, payload()));
      CHILD_CHECK(c, wait_readable(tun->fd(), 2000));
      usleep(50 * 1000);  // let any deferred qdisc transmit finish
    };
    BufferPool pool(16);
    std::vector<PacketBuf*> bufs;
    while (PacketBuf* b = pool.get()) bufs.push_back(b);
    size_t udp = 0;
    auto read = [&]() -> size_t {
      const uint64_t reads = tun->stats().rx_reads;
      auto n = tun->read_batch(bufs);
      if (!n) {
        c.fail(__FILE__, __LINE__, "read_batch: " + n.error().message);
        return 0;
      }
      for (size_t i = 0; i < *n; ++i) {
        CHILD_CHECK(c, bufs[i]->off == limits::kHeadroom);
        udp += is_udp_to(bufs[i]->span(), ip("10.200.0.3"), 9000);
      }
      if (*n == 1) CHILD_CHECK(c, tun->stats().rx_reads == reads + 1);
      return *n;
    };
    send(50);
    // The first read ever comes after an idle spell: one packet, the other 49 stay queued.
    CHILD_CHECK(c, read() == 1);
    CHILD_CHECK(c, wait_readable(tun->fd(), 0));
    size_t full_batches = 0;
    while (read() == bufs.size()) ++full_batches;   // then whole batches, the clock standing
    CHILD_CHECK(c, udp == 50);
    CHILD_CHECK(c, full_batches >= 3);
    CHILD_CHECK(c, tun->stats().rx_packets >= 50);
    CHILD_CHECK(c, read() == 0);
    // Idle again (the clock moved by kIdleNs): one read, then the rest in one batch.
    udp = 0;
    send(5);
    fake_now_ns += TunDevice::kIdleNs;
    CHILD_CHECK(c, read() == 1);
    CHILD_CHECK(c, read() >= 4);
    CHILD_CHECK(c, udp == 5);
    close(s);
  });
}

TEST_CASE("TUN: attach rules and a deleted interface", "[tun][netns]") {
  ptun::test::run_in_netns([](ChildChecks& c) {
    auto nl = netlink::Rtnl::open();
    CHILD_OK(c, nl);
    auto too_long = TunDevice::open(TunOptions{"a-name-much-too-long"});
    CHILD_CHECK(c, !too_long.ok() && too_long.error().code == Errc::invalid_argument);
    auto lo = TunDevice::open(TunOptions{"lo"});  // exists, not a TUN
    CHILD_CHECK(c, !lo.ok() && lo.error().code == Errc::invalid_argument);

    auto first = TunDevice::open(TunOptions{"ptunbusy0"});
    CHILD_OK(c, first);
    auto second = TunDevice::open(TunOptions{"ptunbusy0"});  // single-queue TUN already held
    CHILD_CHECK(c, !second.ok() && second.error().code == Errc::exists);
    auto mq = TunDevice::open(TunOptions{"ptunbusy0", true});  // queue mode differs
    CHILD_CHECK(c, !mq.ok() && mq.error().code == Errc::invalid_argument);

    auto picked = TunDevice::open(TunOptions{""});
    CHILD_OK(c, picked);
    CHILD_CHECK(c, (*picked)->name().rfind("tun", 0) == 0 && (*picked)->ifindex() > 0);

    // A non-persistent TUN disappears with its fd.
    int idx = (*first)->ifindex();
    first->reset();
    CHILD_CHECK(c, (*nl)->link_get(idx).error().code == Errc::not_found);

    // Deleting the interface under an open device: reads and writes report closed.
    auto dev = TunDevice::open(TunOptions{"ptungone0"});
    CHILD_OK(c, dev);
    CHILD_OK(c, (*nl)->link_del((*dev)->ifindex()));
    BufferPool pool(2);
    PacketBuf* bufs[] = {pool.get(), pool.get()};
    auto r = (*dev)->read_batch(bufs);
    CHILD_CHECK(c, !r.ok() && r.error().code == Errc::closed);
    auto w = (*dev)->write(test::udp4(ip("10.0.0.2"), 1, ip("10.0.0.1"), 2, payload()));
    CHILD_CHECK(c, !w.ok() && w.error().code == Errc::closed);
  });
}
