#include "packet/flow_key.hpp"

#include <catch2/catch.hpp>
#include <unordered_set>

#include "packet_builder.hpp"

using namespace ptun;
using namespace ptun::packet;
using namespace ptun::packet::test;

namespace {
FlowKey key_of(const Bytes& b) {
  Parsed p;
  REQUIRE(parse(b, &p) == ParseStatus::ok);
  return flow_key(p);
}
}  // namespace

TEST_CASE("flow_key: 5-tuple of TCP and UDP, both directions", "[packet][flow]") {
  FlowKey k = key_of(ipv4({}, tcp(40000, 443, 0x02)));
  CHECK(k.src == addr("10.0.0.1"));
  CHECK(k.dst == addr("10.0.0.2"));
  CHECK(k.sport == 40000);
  CHECK(k.dport == 443);
  CHECK(k.proto == 6);
  V4 back;
  std::swap(back.src, back.dst);
  FlowKey r = key_of(ipv4(back, tcp(443, 40000, 0x12)));
  CHECK(reversed(k) == r);
  CHECK(reversed(r) == k);
  CHECK_FALSE(k == r);
  CHECK(reversed(reversed(k)) == k);

  FlowKey u = key_of(ipv6({}, udp(5000, 53)));
  CHECK(u.proto == 17);
  CHECK_FALSE(u == key_of(ipv6({}, udp(5000, 54))));
  CHECK_FALSE(u == key_of(ipv6({}, tcp(5000, 53, 0x10))));
}

TEST_CASE("flow_key: ICMP echo request and reply share a flow", "[packet][flow]") {
  for (bool v6 : {false, true}) {
    FlowKey req, rep;
    if (v6) {
      V6 back;
      std::swap(back.src, back.dst);
      req = key_of(ipv6({}, icmp(true, 128, 0, 77, 1)));
      rep = key_of(ipv6(back, icmp(true, 129, 0, 77, 1)));
    } else {
      V4 back;
      std::swap(back.src, back.dst);
      req = key_of(ipv4({}, icmp(false, 8, 0, 77, 1)));
      rep = key_of(ipv4(back, icmp(false, 0, 0, 77, 1)));
    }
    CHECK(req.sport == 77);
    CHECK(reversed(req) == rep);
    CHECK(FlowKeyHash{}(reversed(req)) == FlowKeyHash{}(rep));
  }
}

TEST_CASE("flow_key: no ports without an L4 header", "[packet][flow]") {
  V4 frag;
  frag.frag_units = 10;
  FlowKey k = key_of(ipv4(frag, raw(17, payload(16))));
  CHECK(k.proto == 17);
  CHECK(k.sport == 0);
  CHECK(k.dport == 0);
}

TEST_CASE("flow_key: hash agrees with equality and spreads", "[packet][flow]") {
  std::unordered_set<FlowKey, FlowKeyHash> set;
  std::unordered_set<size_t> hashes;
  for (uint16_t port = 1000; port < 3000; ++port) {
    FlowKey k = key_of(ipv4({}, udp(port, 53)));
    REQUIRE(FlowKeyHash{}(k) == FlowKeyHash{}(key_of(ipv4({}, udp(port, 53)))));
    set.insert(k);
    set.insert(reversed(k));
    hashes.insert(FlowKeyHash{}(k));
    hashes.insert(FlowKeyHash{}(reversed(k)));
  }
  CHECK(set.size() == 4000);
  CHECK(hashes.size() == 4000);  // 64-bit hashes of 4000 keys: a collision would be suspicious
  // The same numbers in IPv4 and IPv6 address space are different flows.
  FlowKey a;
  a.src = IpAddr::v4(uint32_t(1));
  FlowKey b = a;
  b.src.family = Family::v6;
  CHECK_FALSE(a == b);
  CHECK(FlowKeyHash{}(a) != FlowKeyHash{}(b));
}
