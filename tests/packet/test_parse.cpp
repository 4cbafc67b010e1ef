#include "packet/parse.hpp"

#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "packet_builder.hpp"
#include "samples.hpp"

using namespace ptun;
using namespace ptun::packet;
using namespace ptun::packet::test;

namespace {
// Parses from an exactly-sized heap copy so ASan sees any read past the end.
ParseStatus parse_exact(const Bytes& b, Parsed* p, size_t n) {
  Bytes copy(b.begin(), b.begin() + n);
  return parse(std::span<const uint8_t>(copy.data(), copy.size()), p);
}
ParseStatus parse_bytes(const Bytes& b, Parsed* p) { return parse_exact(b, p, b.size()); }
}  // namespace

TEST_CASE("parse: valid packets of every kind", "[packet][parse]") {
  for (const auto& s : valid_samples()) {
    INFO(s.name);
    Parsed p;
    REQUIRE(parse_bytes(s.bytes, &p) == ParseStatus::ok);
    bool v6 = (s.bytes[0] >> 4) == 6;
    CHECK(p.family == (v6 ? Family::v6 : Family::v4));
    CHECK(p.src == (v6 ? addr("fd00::1") : addr("10.0.0.1")));
    CHECK(p.dst == (v6 ? addr("fd00::2") : addr("10.0.0.2")));
    CHECK(p.l4_proto == s.proto);
    CHECK(p.l3_header_len == s.l3_len);
    CHECK(p.total_len == s.bytes.size());
    CHECK(p.ttl == 64);
    CHECK(p.sport == s.sport);
    CHECK(p.dport == s.dport);
    CHECK(p.has_l4 == s.has_l4);
    CHECK(p.is_fragment == s.is_fragment);
    CHECK(p.first_fragment == s.first_fragment);
    CHECK(p.l4_len() == s.bytes.size() - s.l3_len);
  }
}

TEST_CASE("parse: TCP flags, ICMP type and code, DF, TOS", "[packet][parse]") {
  Parsed p;
  V4 o;
  o.tos = 0xb8;
  o.ttl = 3;
  REQUIRE(parse_bytes(ipv4(o, tcp(1, 2, 0x12)), &p) == ParseStatus::ok);
  CHECK(p.tcp_flags == 0x12);
  CHECK(p.dont_fragment);
  CHECK(p.tos == 0xb8);
  CHECK(p.ttl == 3);
  o.df = false;
  REQUIRE(parse_bytes(ipv4(o, icmp(false, 11, 1, 0, 0, 28)), &p) == ParseStatus::ok);
  CHECK_FALSE(p.dont_fragment);
  CHECK(p.icmp_type == 11);
  CHECK(p.icmp_code == 1);
  CHECK(p.sport == 0);
  CHECK(p.tcp_flags == 0);
  V6 o6;
  o6.hop = 1;
  REQUIRE(parse_bytes(ipv6(o6, tcp(1, 2, 0xc2)), &p) == ParseStatus::ok);
  CHECK(p.tcp_flags == 0xc2);  // CWR ECE SYN
  CHECK(p.ttl == 1);
  CHECK_FALSE(p.dont_fragment);
}

TEST_CASE("parse: trailing bytes past the IP length are ignored", "[packet][parse]") {
  for (const auto& s : valid_samples()) {
    INFO(s.name);
    Bytes b = s.bytes;
    b.insert(b.end(), 17, 0xee);
    Parsed p;
    REQUIRE(parse_bytes(b, &p) == ParseStatus::ok);
    CHECK(p.total_len == s.bytes.size());
    CHECK(p.sport == s.sport);
  }
}

TEST_CASE("parse: every prefix of a valid packet is rejected", "[packet][parse][truncation]") {
  // The IP length still claims the whole packet: the buffer is too short for it.
  for (const auto& s : valid_samples()) {
    for (size_t n = 0; n < s.bytes.size(); ++n) {
      INFO(s.name << " prefix " << n);
      Parsed p;
      ParseStatus st = parse_exact(s.bytes, &p, n);
      CHECK(st != ParseStatus::ok);
      if (n == 0) CHECK(st == ParseStatus::empty);
    }
  }
}

TEST_CASE("parse: truncations with consistent IP lengths", "[packet][parse][truncation]") {
  // Cut the packet and rewrite the IP length to match: the IP layer looks fine, the headers
  // inside are cut. Ok exactly when every header the parser reads is still whole.
  for (const auto& s : valid_samples()) {
    bool v6 = (s.bytes[0] >> 4) == 6;
    size_t fixed = v6 ? 40 : 20;
    for (size_t n = fixed; n <= s.bytes.size(); ++n) {
      INFO(s.name << " cut to " << n);
      Bytes b(s.bytes.begin(), s.bytes.begin() + n);
      if (v6)
        put16(b, 4, uint16_t(n - 40));
      else
        put16(b, 2, uint16_t(n));
      Parsed p;
      ParseStatus st = parse_bytes(b, &p);
      INFO(to_string(st));
      if (n >= s.headers_end()) {
        CHECK(st == ParseStatus::ok);
        CHECK(p.has_l4 == s.has_l4);
        CHECK(p.sport == s.sport);
      } else {
        CHECK(st != ParseStatus::ok);
      }
    }
  }
}

TEST_CASE("parse: bad versions and empty input", "[packet][parse]") {
  Parsed p;
  CHECK(parse({}, &p) == ParseStatus::empty);
  Bytes b = ipv4({}, udp(1, 2, 4));
  for (uint8_t v : {0, 1, 5, 7, 15}) {
    b[0] = uint8_t(v << 4 | 5);
    CHECK(parse_bytes(b, &p) == ParseStatus::bad_version);
  }
  // An IPv6 packet whose first nibble says 4: the IPv4 checks catch it, never a wrong parse.
  Bytes v6 = ipv6({}, udp(1, 2, 4));
  v6[0] = 0x40;
  CHECK(parse_bytes(v6, &p) != ParseStatus::ok);
}

TEST_CASE("parse: lying IPv4 length fields", "[packet][parse]") {
  Bytes good = ipv4({}, udp(1, 2, 20));
  Parsed p;
  for (uint8_t ihl : {0, 1, 4}) {
    Bytes b = good;
    b[0] = uint8_t(0x40 | ihl);
    CHECK(parse_bytes(b, &p) == ParseStatus::bad_header_length);
  }
  Bytes b = good;
  b[0] = 0x4f;  // 60-byte header: fits the buffer (with trailing bytes), total length 48 < 60
  b.resize(good.size() + 20);
  CHECK(parse_bytes(b, &p) == ParseStatus::bad_total_length);
  Bytes tiny(good.begin(), good.begin() + 24);
  tiny[0] = 0x47;  // 28-byte header in a 24-byte buffer
  CHECK(parse_bytes(tiny, &p) == ParseStatus::truncated_header);
  b = good;
  put16(b, 2, uint16_t(good.size() + 1));
  CHECK(parse_bytes(b, &p) == ParseStatus::bad_total_length);
  put16(b, 2, 19);
  CHECK(parse_bytes(b, &p) == ParseStatus::bad_total_length);
  put16(b, 2, 0xffff);
  CHECK(parse_bytes(b, &p) == ParseStatus::bad_total_length);
}

TEST_CASE("parse: lying IPv6 payload length", "[packet][parse]") {
  Bytes good = ipv6({}, tcp(1, 2, 0x10));
  Parsed p;
  Bytes b = good;
  put16(b, 4, uint16_t(good.size() - 40 + 1));
  CHECK(parse_bytes(b, &p) == ParseStatus::bad_total_length);
  put16(b, 4, 0xffff);
  b.resize(40 + 0xffff);  // fits the buffer, but 40 + 65535 does not fit total_len
  CHECK(parse_bytes(b, &p) == ParseStatus::bad_total_length);
  b = good;
  put16(b, 4, 0);  // zero payload: the TCP header is outside the packet
  CHECK(parse_bytes(b, &p) == ParseStatus::truncated_l4);
}

TEST_CASE("parse: extension header chains that run off the end", "[packet][parse][ext]") {
  Parsed p;
  V6 o;
  o.exts = {ext_opts(0), ext_opts(60)};
  Bytes b = ipv6(o, raw(59, {}));
  REQUIRE(parse_bytes(b, &p) == ParseStatus::ok);
  CHECK(p.l3_header_len == 56);
  // The destination options header claims 255 units (2 KiB) in a 56-byte packet.
  Bytes lie = b;
  lie[48 + 1] = 255;
  CHECK(parse_bytes(lie, &p) == ParseStatus::truncated_ext_header);
  // The last header says "hop-by-hop follows" where the packet ends.
  lie = b;
  lie[48] = 60;
  CHECK(parse_bytes(lie, &p) == ParseStatus::truncated_ext_header);
  lie[48] = 44;  // a fragment header that is not there
  CHECK(parse_bytes(lie, &p) == ParseStatus::truncated_ext_header);
  lie[48] = 51;
  CHECK(parse_bytes(lie, &p) == ParseStatus::truncated_ext_header);
  // AH whose length points past the end.
  o.exts = {ext_ah(4)};
  lie = ipv6(o, raw(59, {}));
  REQUIRE(parse_bytes(lie, &p) == ParseStatus::ok);
  lie[41] = 10;
  CHECK(parse_bytes(lie, &p) == ParseStatus::truncated_ext_header);
  // Only the next-header byte of an extension header is present (the length byte is not).
  Bytes one = ipv6({}, raw(60, {0}));
  CHECK(parse_bytes(one, &p) == ParseStatus::truncated_ext_header);
}

TEST_CASE("parse: extension header count and order", "[packet][parse][ext]") {
  Parsed p;
  V6 o;
  for (unsigned i = 0; i < kMaxExtHeaders; ++i) o.exts.push_back(ext_opts(60));
  CHECK(parse_bytes(ipv6(o, udp(1, 2)), &p) == ParseStatus::ok);
  CHECK(p.l3_header_len == 40 + 8 * kMaxExtHeaders);
  o.exts.push_back(ext_opts(43));
  CHECK(parse_bytes(ipv6(o, udp(1, 2)), &p) == ParseStatus::too_many_ext_headers);
  o.exts = {ext_opts(60), ext_opts(0)};
  CHECK(parse_bytes(ipv6(o, udp(1, 2)), &p) == ParseStatus::bad_ext_header);
  o.exts = {ext_frag(0, true), ext_frag(0, true)};
  CHECK(parse_bytes(ipv6(o, udp(1, 2)), &p) == ParseStatus::bad_ext_header);
}

TEST_CASE("parse: fragments", "[packet][parse][fragment]") {
  Parsed p;
  // Ping of death: the last fragment reaches past 65535 bytes.
  V4 o;
  o.frag_units = 8189;  // offset 65512
  CHECK(parse_bytes(ipv4(o, raw(1, payload(23))), &p) == ParseStatus::ok);
  CHECK(parse_bytes(ipv4(o, raw(1, payload(24))), &p) == ParseStatus::bad_fragment);
  V6 o6;
  o6.exts = {ext_frag(8189, false)};
  CHECK(parse_bytes(ipv6(o6, raw(17, payload(23))), &p) == ParseStatus::ok);
  CHECK(parse_bytes(ipv6(o6, raw(17, payload(24))), &p) == ParseStatus::bad_fragment);
  // A non-first fragment's content is not parsed: bytes that look like a bad header are data.
  o6.exts = {ext_frag(1, true)};
  Bytes junk(3, 0xff);
  CHECK(parse_bytes(ipv6(o6, raw(6, junk)), &p) == ParseStatus::ok);
  CHECK_FALSE(p.has_l4);
  o6.exts = {ext_frag(1, true)};
  CHECK(parse_bytes(ipv6(o6, raw(0, payload(8))), &p) == ParseStatus::ok);  // "hbh" after frag
  CHECK(p.l4_proto == 0);
  // A first fragment too short for the TCP header (RFC 1858 tiny fragment).
  V4 f;
  f.mf = true;
  L4 t = tcp(1, 2, 0x02, mss_option(1460));
  L4 cut{6, Bytes(t.bytes.begin(), t.bytes.begin() + 16), SIZE_MAX};
  CHECK(parse_bytes(ipv4(f, cut), &p) == ParseStatus::truncated_l4);
  cut.bytes.assign(t.bytes.begin(), t.bytes.begin() + 22);  // options split
  CHECK(parse_bytes(ipv4(f, cut), &p) == ParseStatus::bad_tcp_header);
  // The first fragment of a UDP datagram: the UDP length covers the whole datagram.
  L4 u = udp(1, 2, 3000);
  L4 ucut{17, Bytes(u.bytes.begin(), u.bytes.begin() + 1000), SIZE_MAX};
  REQUIRE(parse_bytes(ipv4(f, ucut), &p) == ParseStatus::ok);
  CHECK(p.first_fragment);
  CHECK(p.dport == 2);
}

TEST_CASE("parse: bad TCP and UDP headers", "[packet][parse]") {
  Parsed p;
  for (bool v6 : {false, true}) {
    INFO((v6 ? "v6" : "v4"));
    auto build = [&](const L4& l4) { return v6 ? ipv6({}, l4) : ipv4({}, l4); };
    size_t l3 = v6 ? 40 : 20;
    Bytes b = build(tcp(1, 2, 0x02, mss_option(1400)));
    for (uint8_t doff : {0, 1, 4}) {
      b[l3 + 12] = uint8_t(doff << 4);
      CHECK(parse_bytes(b, &p) == ParseStatus::bad_tcp_header);
    }
    b[l3 + 12] = 7 << 4;  // 28 bytes of header in a 24-byte segment
    CHECK(parse_bytes(b, &p) == ParseStatus::bad_tcp_header);
    b[l3 + 12] = 6 << 4;
    CHECK(parse_bytes(b, &p) == ParseStatus::ok);

    Bytes u = build(udp(1, 2, 10));
    for (uint16_t len : {0, 7, 19}) {
      put16(u, l3 + 4, len);
      CHECK(parse_bytes(u, &p) == ParseStatus::bad_udp_length);
    }
    put16(u, l3 + 4, 12);  // shorter than the payload: the rest is padding
    CHECK(parse_bytes(u, &p) == ParseStatus::ok);

    Bytes ic = build(icmp(v6, v6 ? 128 : 8, 0, 1, 1));
    ic.resize(ic.size() - 1);
    put16(ic, v6 ? 4 : 2, uint16_t(v6 ? 7 : 27));
    CHECK(parse_bytes(ic, &p) == ParseStatus::truncated_l4);
  }
}

TEST_CASE("parse: ICMP over the wrong IP version is an unknown protocol", "[packet][parse]") {
  Parsed p;
  REQUIRE(parse_bytes(ipv4({}, icmp(true, 128, 0, 5, 5)), &p) == ParseStatus::ok);
  CHECK(p.l4_proto == 58);
  CHECK_FALSE(p.has_l4);
  CHECK(p.sport == 0);
  REQUIRE(parse_bytes(ipv6({}, icmp(false, 8, 0, 5, 5)), &p) == ParseStatus::ok);
  CHECK_FALSE(p.has_l4);
}

TEST_CASE("parse: unaligned input", "[packet][parse]") {
  for (const auto& s : valid_samples()) {
    Bytes buf(s.bytes.size() + 1);
    std::copy(s.bytes.begin(), s.bytes.end(), buf.begin() + 1);
    Parsed p;
    REQUIRE(parse({buf.data() + 1, s.bytes.size()}, &p) == ParseStatus::ok);
    CHECK(p.sport == s.sport);
  }
}

TEST_CASE("peek_dst / peek_src", "[packet][parse][peek]") {
  for (const auto& s : valid_samples()) {
    INFO(s.name);
    Parsed p;
    REQUIRE(parse_bytes(s.bytes, &p) == ParseStatus::ok);
    IpAddr d, src;
    REQUIRE(peek_dst(s.bytes, &d));
    REQUIRE(peek_src(s.bytes, &src));
    CHECK(d == p.dst);
    CHECK(src == p.src);
    size_t fixed = (s.bytes[0] >> 4) == 6 ? 40 : 20;
    Bytes cut(s.bytes.begin(), s.bytes.begin() + fixed - 1);
    CHECK_FALSE(peek_dst(cut, &d));
    CHECK_FALSE(peek_src(cut, &d));
  }
  IpAddr a;
  CHECK_FALSE(peek_dst({}, &a));
  Bytes b(60, 0);
  b[0] = 0x55;
  CHECK_FALSE(peek_dst(b, &a));
}

TEST_CASE("parse: status names", "[packet][parse]") {
  std::set<std::string> names;
  for (int i = 0; i < int(ParseStatus::count_); ++i) names.insert(to_string(ParseStatus(i)));
  CHECK(names.size() == size_t(ParseStatus::count_));
  CHECK(names.count("unknown") == 0);
  CHECK(std::string(to_string(ParseStatus::truncated_ext_header)) == "truncated_ext_header");
}
