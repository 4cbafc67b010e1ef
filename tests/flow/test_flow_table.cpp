// The flow table: TCP state transitions, per-direction counters, timeouts per class, eviction
// under a flood of new flows with bounded memory, and index consistency under random churn.
#include <catch2/catch.hpp>
#include <cstdio>
#include <random>
#include <set>

#include "flow/flow_table.hpp"
#include "packet/packet_builder.hpp"

using namespace ptun;
using namespace ptun::flow;
using namespace ptun::packet::test;
using ptun::packet::Parsed;

namespace {

constexpr uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, ACK = 0x10;

Parsed parsed(const Bytes& b) {
  Parsed p;
  REQUIRE(packet::parse(b, &p) == packet::ParseStatus::ok);
  return p;
}
// A TCP packet from A (10.0.0.1:40000) to B (10.0.0.2:443) or back.
Parsed tcp_ab(uint8_t flags, bool from_a = true) {
  V4 o;
  if (!from_a) std::swap(o.src, o.dst);
  return parsed(ipv4(o, from_a ? tcp(40000, 443, flags) : tcp(443, 40000, flags)));
}
Parsed udp4(const char* src, const char* dst, uint16_t sport, uint16_t dport, size_t len = 0) {
  V4 o;
  o.src = addr(src);
  o.dst = addr(dst);
  return parsed(ipv4(o, udp(sport, dport, len)));
}

}  // namespace

namespace {
Timeouts exact() {
  Timeouts t;
  t.refresh_ms = 0;   // exact LRU: deadlines to the millisecond
  return t;
}
}  // namespace

TEST_CASE("tcp handshake, data and close walk the states", "[flow]") {
  FlowTable t(16, exact());
  auto h = t.classify(tcp_ab(SYN), Dir::out, 60, 1000);
  REQUIRE(h.id != kNoFlow);
  CHECK(h.is_new);
  CHECK(t.at(h.id).tcp == TcpState::syn_sent);
  auto r = t.classify(tcp_ab(SYN | ACK, false), Dir::in, 60, 1010);
  CHECK(r.id == h.id);
  CHECK_FALSE(r.is_new);
  CHECK_FALSE(r.from_opener);
  CHECK(t.at(h.id).tcp == TcpState::syn_received);
  t.classify(tcp_ab(ACK), Dir::out, 40, 1020);
  CHECK(t.at(h.id).tcp == TcpState::established);
  t.classify(tcp_ab(ACK, false), Dir::in, 1500, 1030);
  t.classify(tcp_ab(FIN | ACK), Dir::out, 40, 1040);
  CHECK(t.at(h.id).tcp == TcpState::closing);
  t.classify(tcp_ab(FIN | ACK, false), Dir::in, 40, 1050);
  CHECK(t.at(h.id).tcp == TcpState::closed);

  const Flow& f = t.at(h.id);
  CHECK(f.packets[0] == 3);
  CHECK(f.packets[1] == 3);
  CHECK(f.bytes[0] == 140);
  CHECK(f.bytes[1] == 1600);
  CHECK(f.first_ms == 1000);
  CHECK(f.last_ms == 1050);
  CHECK(f.origin == Dir::out);
  CHECK(f.key().sport == 40000);
  CHECK(f.key().src == addr("10.0.0.1"));
  CHECK(t.size() == 1);
  // closed flows go quickly (tcp_closed_ms = 10 s by default)
  CHECK(t.next_deadline() == 1050 + 10'000);
  CHECK(t.expire(1050 + 9'999) == 0);
  CHECK(t.expire(1050 + 10'000) == 1);
  CHECK(t.size() == 0);
  CHECK(t.stats().expired == 1);
}

TEST_CASE("tcp: RST, mid-stream pickup and port reuse", "[flow]") {
  FlowTable t(16);
  auto h = t.classify(tcp_ab(ACK), Dir::in, 40, 0);
  CHECK(t.at(h.id).tcp == TcpState::established);  // first packet not a SYN
  CHECK(t.at(h.id).origin == Dir::in);
  t.classify(tcp_ab(RST, false), Dir::out, 40, 5);
  CHECK(t.at(h.id).tcp == TcpState::reset);
  t.classify(tcp_ab(ACK), Dir::in, 40, 6);  // nothing revives a reset flow but a new SYN
  CHECK(t.at(h.id).tcp == TcpState::reset);
  auto again = t.classify(tcp_ab(SYN), Dir::out, 60, 7);
  CHECK(again.is_new);
  CHECK(t.at(again.id).tcp == TcpState::syn_sent);
  CHECK(t.at(again.id).packets[1] == 0);
  CHECK(t.size() == 1);
  CHECK(t.stats().created == 2);
  // a SYN retransmission on a live opening flow is not a new flow
  CHECK_FALSE(t.classify(tcp_ab(SYN), Dir::out, 60, 8).is_new);
}

TEST_CASE("udp idle timeout is refreshed by traffic either way", "[flow]") {
  Timeouts to = exact();
  to.udp_ms = 1000;
  FlowTable t(16, to);
  auto h = t.classify(udp4("10.0.0.1", "10.0.0.9", 5000, 53), Dir::out, 60, 0);
  t.classify(udp4("10.0.0.9", "10.0.0.1", 53, 5000), Dir::in, 120, 900);
  CHECK(t.expire(1500) == 0);
  CHECK(t.next_deadline() == 1900);
  CHECK(t.expire(1900) == 1);
  // after expiry the same tuple is a new flow
  auto n = t.classify(udp4("10.0.0.1", "10.0.0.9", 5000, 53), Dir::out, 60, 2000);
  CHECK(n.is_new);
  CHECK(h.id == n.id);  // the freed entry is reused
  // a lookup that finds a stale flow (not yet swept) also starts over
  auto s = t.classify(udp4("10.0.0.1", "10.0.0.9", 5000, 53), Dir::out, 60, 3000);
  CHECK(s.is_new);
  CHECK(t.stats().expired == 2);
}

TEST_CASE("icmp echo shares one flow, icmp errors are not flows, ipv6 too", "[flow]") {
  FlowTable t(16);
  V4 o;
  auto req = t.classify(parsed(ipv4(o, icmp(false, 8, 0, 77, 1))), Dir::out, 84, 0);
  std::swap(o.src, o.dst);
  auto rep = t.classify(parsed(ipv4(o, icmp(false, 0, 0, 77, 1))), Dir::in, 84, 1);
  CHECK(req.id == rep.id);
  CHECK(t.at(req.id).tcp == TcpState::none);
  auto err = t.classify(parsed(ipv4(o, icmp(false, 3, 1, 0, 0, 28))), Dir::in, 56, 2);
  CHECK(err.id == kNoFlow);
  CHECK(t.stats().untracked == 1);

  V6 v6;
  auto a = t.classify(parsed(ipv6(v6, udp(1000, 2000))), Dir::out, 48, 3);
  std::swap(v6.src, v6.dst);
  auto b = t.classify(parsed(ipv6(v6, udp(2000, 1000))), Dir::in, 48, 4);
  CHECK(a.id == b.id);
  CHECK(t.at(a.id).key().src.is_v6());
  auto e6 = t.classify(parsed(ipv6(v6, icmp(true, 128, 0, 5, 1))), Dir::out, 48, 5);
  CHECK(e6.id != kNoFlow);
  CHECK(t.size() == 3);
}

TEST_CASE("fragments without their first fragment and unknown protocols are 'other' flows", "[flow]") {
  FlowTable t(16);
  V4 o;
  o.frag_units = 100;  // a non-first fragment: no L4 header
  o.df = false;
  auto f1 = t.classify(parsed(ipv4(o, raw(17, payload(64)))), Dir::out, 84, 0);
  REQUIRE(f1.id != kNoFlow);
  CHECK(t.at(f1.id).key().sport == 0);
  V4 g;
  auto gre = t.classify(parsed(ipv4(g, raw(47, payload(32)))), Dir::out, 52, 0);
  CHECK(gre.id != kNoFlow);
  CHECK(gre.id != f1.id);
  CHECK(t.at(gre.id).key().proto == 47);
}

TEST_CASE("a flood of new flows evicts, memory stays bounded, established flows survive", "[flow]") {
  constexpr uint32_t kCap = 1000;
  FlowTable t(kCap);
  auto est = t.classify(tcp_ab(ACK), Dir::out, 40, 0);  // established: longest timeout
  for (uint32_t i = 0; i < 100'000; ++i) {
    IpAddr src = IpAddr::v4(0xc6120000u + (i >> 16));
    V4 o;
    o.src = src;
    Parsed p = parsed(ipv4(o, udp(uint16_t(i), 53)));
    auto h = t.classify(p, Dir::out, 60, 1 + i / 100);
    REQUIRE(h.id < kCap);
    REQUIRE(t.size() <= kCap);
    if (i % 97 == 0) t.classify(tcp_ab(ACK), Dir::out, 40, 1 + i / 100);  // keep it active
  }
  CHECK(t.size() == kCap);
  CHECK(t.capacity() == kCap);
  CHECK(t.stats().evicted == 100'001 - kCap);
  CHECK(t.find(packet::flow_key(tcp_ab(ACK))) == est.id);
  CHECK(t.at(est.id).tcp == TcpState::established);
}

TEST_CASE("random churn keeps the index consistent with the live flows", "[flow]") {
  Timeouts to;
  to.udp_ms = 50;
  FlowTable t(64, to);
  std::mt19937 rng(7);
  for (uint64_t now = 0; now < 20'000; ++now) {
    uint16_t port = uint16_t(rng() % 200);
    bool rev = rng() & 1;
    Parsed p = rev ? udp4("10.1.0.2", "10.1.0.1", 53, port) : udp4("10.1.0.1", "10.1.0.2", port, 53);
    REQUIRE(t.classify(p, rev ? Dir::in : Dir::out, 60, now).id != kNoFlow);
    if (rng() % 16 == 0) t.expire(now);
    if (now % 1000 == 999) {
      std::set<uint32_t> live;
      t.for_each([&](uint32_t id, const Flow& f) {
        REQUIRE(f.used);
        REQUIRE(t.find(f.key()) == id);
        REQUIRE(t.find(packet::reversed(f.key())) == id);
        live.insert(id);
      });
      REQUIRE(live.size() == t.size());
      for (uint16_t q = 0; q < 200; ++q) {
        uint32_t id = t.find(packet::flow_key(udp4("10.1.0.1", "10.1.0.2", q, 53)));
        if (id != kNoFlow) REQUIRE(live.count(id) == 1);
      }
    }
  }
  CHECK(t.stats().evicted > 0);
  CHECK(t.stats().expired > 0);
}

TEST_CASE("lazy LRU: flows are swept within refresh_ms after their exact deadline", "[flow]") {
  Timeouts to;
  to.udp_ms = 5000;
  to.refresh_ms = 1000;
  FlowTable t(16, to);
  auto a = t.classify(udp4("10.0.0.1", "10.0.0.9", 1, 53), Dir::out, 60, 0);
  t.classify(udp4("10.0.0.1", "10.0.0.9", 1, 53), Dir::out, 60, 500);   // no relink (< refresh)
  CHECK(t.deadline(t.at(a.id)) == 5500);
  CHECK(t.next_deadline() == 6000);   // queued at 0 + timeout + refresh
  CHECK(t.expire(5999) == 0);
  CHECK(t.expire(6000) == 1);
  // a flow that keeps talking is relinked once per refresh and never swept early
  auto b = t.classify(udp4("10.0.0.1", "10.0.0.9", 2, 53), Dir::out, 60, 10'000);
  for (uint64_t now = 10'000; now <= 30'000; now += 400) {
    REQUIRE(t.classify(udp4("10.0.0.1", "10.0.0.9", 2, 53), Dir::out, 60, now).id == b.id);
    REQUIRE(t.expire(now) == 0);
  }
  CHECK_FALSE(t.classify(udp4("10.0.0.1", "10.0.0.9", 2, 53), Dir::out, 60, 30'100).is_new);
  // past the exact deadline a lookup starts a new flow even before the sweep
  CHECK(t.classify(udp4("10.0.0.1", "10.0.0.9", 2, 53), Dir::out, 60, 30'100 + 5000).is_new);
}

namespace {
// This process's resident set in KiB (VmRSS of /proc/self/status), 0 if unreadable.
long rss_kib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  long kib = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  std::fclose(f);
  return kib;
}
}  // namespace

TEST_CASE("a large table costs memory only for the flows it holds", "[flow]") {
  // An idle client keeps max_flows of capacity (8192 by default; routers count every KiB): the
  // entries are reserved, not built, so only the index (4 bytes per slot) is resident at start.
  constexpr uint32_t kCap = 1'000'000;  // ~150 MB of entries if they were constructed
  const long before = rss_kib();
  REQUIRE(before > 0);
  FlowTable t(kCap);
  for (uint16_t i = 0; i < 100; ++i) t.classify(udp4("10.0.0.1", "10.0.0.2", i, 53), Dir::out, 60, 0);
  const long grown = rss_kib() - before;
  CHECK(t.size() == 100);
  CHECK(t.capacity() == kCap);
  INFO("RSS grew by " << grown << " KiB");
  CHECK(grown < 32 * 1024);   // the index is 8 MiB; the entries would be ~150 MB
}
