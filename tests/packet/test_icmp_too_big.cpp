#include "packet/icmp_too_big.hpp"

#include <catch2/catch.hpp>

#include "packet/checksum.hpp"
#include "packet_builder.hpp"

using namespace ptun;
using namespace ptun::packet;
using namespace ptun::packet::test;

namespace {
const IpAddr kGw4 = addr("10.9.0.1");
const IpAddr kGw6 = addr("fd09::1");

// make_too_big into an exactly-sized buffer of `cap` bytes (ASan checks the bound).
Bytes too_big(const Bytes& orig, uint16_t mtu, size_t cap = 2048) {
  Parsed p;
  REQUIRE(parse(orig, &p) == ParseStatus::ok);
  Bytes out(cap);
  const IpAddr& from = p.family == Family::v6 ? kGw6 : kGw4;
  size_t n = make_too_big(orig, p, mtu, from, out.data(), out.size());
  out.resize(n);
  return out;
}

// Parses a reply back with our own parser and checks what every reply must satisfy.
Parsed check_reply(const Bytes& reply, const Bytes& orig, bool v6) {
  Parsed r;
  REQUIRE(parse(reply, &r) == ParseStatus::ok);
  CHECK(r.total_len == reply.size());
  CHECK(r.has_l4);
  CHECK(r.l4_proto == (v6 ? 58 : 1));
  CHECK(r.icmp_type == (v6 ? 2 : 3));
  CHECK(r.icmp_code == (v6 ? 0 : 4));
  CHECK(r.src == (v6 ? kGw6 : kGw4));
  CHECK(r.dst == (v6 ? addr("fd00::1") : addr("10.0.0.1")));
  CHECK(r.ttl == 64);
  CHECK(verify_l4_checksum(r, reply));
  if (!v6) CHECK(verify_ipv4_header_checksum(reply));
  // The quote is the original's first bytes.
  size_t quote_at = v6 ? 48 : 28;
  size_t quoted = reply.size() - quote_at;
  REQUIRE(quoted <= orig.size());
  CHECK(std::equal(orig.begin(), orig.begin() + quoted, reply.begin() + quote_at));
  return r;
}
}  // namespace

TEST_CASE("make_too_big: IPv4 fragmentation needed", "[packet][too_big]") {
  Bytes orig = ipv4({}, tcp(40000, 443, 0x18, {}, 1460));
  Bytes r = too_big(orig, 1400);
  REQUIRE(r.size() == kIcmp4ErrorMax);
  check_reply(r, orig, false);
  CHECK(get16(r, 24) == 0);     // unused
  CHECK(get16(r, 26) == 1400);  // next-hop MTU
  // A small original is quoted whole.
  Bytes small = ipv4({}, udp(1, 2, 10));
  r = too_big(small, 1280);
  CHECK(r.size() == 28 + small.size());
  check_reply(r, small, false);
  // Echo requests and other queries get a reply.
  Bytes ping = ipv4({}, icmp(false, 8, 0, 1, 1, 1400));
  check_reply(too_big(ping, 1300), ping, false);
  // An IPv4 first fragment with DF set is impossible on the wire, but MF + DF parses: the
  // rule is only "not a non-first fragment".
  V4 first;
  first.mf = true;
  Bytes f = ipv4(first, udp(3, 4, 100));
  check_reply(too_big(f, 1000), f, false);
}

TEST_CASE("make_too_big: IPv6 Packet Too Big", "[packet][too_big]") {
  V6 o;
  o.exts = {ext_opts(0), ext_opts(60)};
  Bytes orig = ipv6(o, udp(4500, 4500, 1400));
  Bytes r = too_big(orig, 1280);
  REQUIRE(r.size() == kIcmp6ErrorMax);
  check_reply(r, orig, true);
  CHECK(get16(r, 44) == 0);
  CHECK(get16(r, 46) == 1280);  // 32-bit MTU field
  Bytes small = ipv6({}, tcp(1, 2, 0x10, {}, 20));
  r = too_big(small, 1400);
  CHECK(r.size() == 48 + small.size());
  check_reply(r, small, true);
  // Multicast destinations still get Packet Too Big (RFC 4443 2.4(e.3)).
  V6 mc;
  mc.dst = addr("ff02::fb");
  Bytes m = ipv6(mc, udp(5353, 5353, 1400));
  CHECK_FALSE(too_big(m, 1280).empty());
}

TEST_CASE("make_too_big: quote limited by the output capacity", "[packet][too_big]") {
  Bytes orig = ipv4({}, tcp(1, 2, 0x10, {}, 1000));
  Bytes r = too_big(orig, 576, 100);
  REQUIRE(r.size() == 100);
  check_reply(r, orig, false);
  CHECK(too_big(orig, 576, 28 + 20 + 8).size() == 56);
  CHECK(too_big(orig, 576, 28 + 20 + 7).empty());  // not even header + 8 bytes
  CHECK(too_big(orig, 576, 0).empty());
  Bytes orig6 = ipv6({}, tcp(1, 2, 0x10, {}, 1400));
  CHECK(too_big(orig6, 1280, 88).size() == 88);
  CHECK(too_big(orig6, 1280, 87).empty());
}

TEST_CASE("make_too_big: no reply where none is due", "[packet][too_big]") {
  V4 nodf;
  nodf.df = false;
  CHECK(too_big(ipv4(nodf, udp(1, 2, 1400)), 1280).empty());
  // ICMP errors never get an error back.
  for (uint8_t type : {3, 4, 5, 11, 12, 42})
    CHECK(too_big(ipv4({}, icmp(false, type, 0, 0, 0, 1400)), 1280).empty());
  for (uint8_t type : {1, 2, 3, 4, 100})
    CHECK(too_big(ipv6({}, icmp(true, type, 0, 0, 0, 1400)), 1280).empty());
  CHECK_FALSE(too_big(ipv6({}, icmp(true, 128, 0, 0, 0, 1400)), 1280).empty());
  // Non-first fragments.
  V4 frag;
  frag.frag_units = 100;
  CHECK(too_big(ipv4(frag, raw(17, payload(1400))), 1280).empty());
  V6 frag6;
  frag6.exts = {ext_frag(100, true)};
  CHECK(too_big(ipv6(frag6, raw(17, payload(1400))), 1280).empty());
  // Sources that must not be answered, IPv4 destinations that are not unicast.
  for (const char* src : {"0.0.0.0", "127.0.0.1", "224.0.0.1", "240.0.0.1", "255.255.255.255"}) {
    V4 o;
    o.src = addr(src);
    CHECK(too_big(ipv4(o, udp(1, 2, 1400)), 1280).empty());
  }
  for (const char* dst : {"224.0.0.251", "255.255.255.255"}) {
    V4 o;
    o.dst = addr(dst);
    CHECK(too_big(ipv4(o, udp(1, 2, 1400)), 1280).empty());
  }
  for (const char* src : {"::", "::1", "ff02::1"}) {
    V6 o;
    o.src = addr(src);
    CHECK(too_big(ipv6(o, udp(1, 2, 1400)), 1300).empty());
  }
  // MTUs below the protocol minimums.
  CHECK(too_big(ipv4({}, udp(1, 2, 1400)), 67).empty());
  CHECK_FALSE(too_big(ipv4({}, udp(1, 2, 1400)), 68).empty());
  CHECK(too_big(ipv6({}, udp(1, 2, 1400)), 1279).empty());
  // `from` of the other family.
  Bytes orig = ipv4({}, udp(1, 2, 1400));
  Parsed p;
  REQUIRE(parse(orig, &p) == ParseStatus::ok);
  Bytes out(2048);
  CHECK(make_too_big(orig, p, 1280, kGw6, out.data(), out.size()) == 0);
}
