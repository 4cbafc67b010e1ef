#include "packet/checksum.hpp"

#include <catch2/catch.hpp>

#include "common/rng.hpp"
#include "packet_builder.hpp"
#include "samples.hpp"

using namespace ptun;
using namespace ptun::packet;
using namespace ptun::packet::test;

namespace {
Bytes random_bytes(SeededRng& rng, size_t n) {
  Bytes b(n);
  if (n) rng.fill(b.data(), n);
  return b;
}
}  // namespace

TEST_CASE("checksum: known IPv4 header", "[packet][checksum]") {
  // The textbook example (Wikipedia "IPv4 header checksum"): checksum field b861.
  Bytes h = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
             0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  CHECK(verify_ipv4_header_checksum(h));
  CHECK(checksum(h) == 0);
  Bytes z = h;
  z[10] = z[11] = 0;
  CHECK(checksum(z) == 0xb861);
  REQUIRE(fill_ipv4_header_checksum(z));
  CHECK(z == h);
  h[15] ^= 1;
  CHECK_FALSE(verify_ipv4_header_checksum(h));
  // Not an IPv4 header: wrong version, short, IHL past the buffer.
  CHECK_FALSE(verify_ipv4_header_checksum(Bytes(19, 0x45)));
  Bytes v6 = z;
  v6[0] = 0x65;
  CHECK_FALSE(verify_ipv4_header_checksum(v6));
  Bytes ihl = z;
  ihl[0] = 0x46;
  CHECK_FALSE(verify_ipv4_header_checksum(ihl));
  CHECK_FALSE(fill_ipv4_header_checksum(ihl));
  CHECK_FALSE(fill_ipv4_header_checksum(v6));
  Bytes short_hdr(19, 0x45);
  CHECK_FALSE(fill_ipv4_header_checksum(short_hdr));
}

TEST_CASE("checksum: matches the naive reference", "[packet][checksum]") {
  SeededRng rng(1);
  for (int i = 0; i < 3000; ++i) {
    size_t n = rng.u32() % 200;
    size_t align = rng.u32() % 8;
    Bytes b = random_bytes(rng, n + align);
    std::span<const uint8_t> s(b.data() + align, n);
    Bytes ref(s.begin(), s.end());
    INFO("n=" << n << " align=" << align);
    REQUIRE(checksum(s) == ref_checksum(ref));
  }
  // All-ones data: sums that carry on every word.
  Bytes ff(1001, 0xff);
  CHECK(checksum(ff) == ref_checksum(ff));
  CHECK(checksum({}) == 0xffff);
}

TEST_CASE("checksum: chained partial sums equal one pass", "[packet][checksum]") {
  SeededRng rng(2);
  for (int i = 0; i < 1000; ++i) {
    Bytes b = random_bytes(rng, 2 + rng.u32() % 3000);
    size_t cut = (rng.u32() % b.size()) & ~size_t(1);  // even: only the last span may be odd
    std::span<const uint8_t> s(b);
    uint32_t sum = checksum_partial(s.first(cut), 0);
    sum = checksum_partial(s.subspan(cut), sum);
    REQUIRE(checksum_fold(sum) == ref_checksum(b));
  }
  // Many chained chunks never overflow the 32-bit sum.
  Bytes ff(64, 0xff);
  uint32_t sum = 0;
  for (int i = 0; i < 100000; ++i) sum = checksum_partial(ff, sum);
  CHECK(checksum_fold(sum) == 0);  // a sum of 0xffff words is -0: complement 0
}

TEST_CASE("checksum: incremental update equals full recompute", "[packet][checksum]") {
  SeededRng rng(3);
  for (int i = 0; i < 5000; ++i) {
    Bytes b = random_bytes(rng, 4 + 2 * (rng.u32() % 40));
    size_t words = b.size() / 2;
    uint16_t old = ref_checksum(b);
    if (rng.u32() % 2) {
      size_t w = rng.u32() % words;
      uint16_t ov = get16(b, 2 * w);
      uint16_t nv = uint16_t(rng.u32());
      if (i % 10 == 0) nv = 0;
      if (i % 10 == 1) nv = 0xffff;
      put16(b, 2 * w, nv);
      uint16_t upd = checksum_update16(old, ov, nv);
      uint16_t full = ref_checksum(b);
      // RFC 1624 eqn. 3 differs from a full recompute only for all-zero data (-0 vs +0),
      // which random data of at least 4 bytes practically never is.
      INFO("i=" << i);
      REQUIRE(upd == full);
    } else {
      size_t w = rng.u32() % (words - 1);
      uint32_t ov = uint32_t(get16(b, 2 * w)) << 16 | get16(b, 2 * w + 2);
      uint32_t nv = rng.u32();
      put16(b, 2 * w, uint16_t(nv >> 16));
      put16(b, 2 * w + 2, uint16_t(nv));
      REQUIRE(checksum_update32(old, ov, nv) == ref_checksum(b));
    }
  }
}

TEST_CASE("checksum: L4 checksums of built packets verify", "[packet][checksum]") {
  for (const auto& s : valid_samples()) {
    INFO(s.name);
    Parsed p;
    REQUIRE(parse(s.bytes, &p) == ParseStatus::ok);
    bool checksummed = s.has_l4 && !s.is_fragment;
    CHECK(verify_l4_checksum(p, s.bytes) == checksummed);
    if (!checksummed) continue;
    CHECK(l4_checksum(p, s.bytes) == 0);
    // Any flipped bit in the segment or the addresses (pseudo header; none for ICMPv4) is
    // detected.
    size_t addr_off = p.l4_proto == 1 ? p.l3_header_len + 1 : 12;
    for (size_t off : {addr_off, size_t(p.l3_header_len), s.bytes.size() - 1}) {
      Bytes bad = s.bytes;
      bad[off] ^= 0x10;
      Parsed q;
      REQUIRE(parse(bad, &q) == ParseStatus::ok);
      CHECK_FALSE(verify_l4_checksum(q, bad));
    }
    // Recomputing gives back the builder's value.
    Bytes again = s.bytes;
    uint8_t* field = again.data() + p.l3_header_len + (p.l4_proto == 6 ? 16 : p.l4_proto == 17 ? 6 : 2);
    field[0] ^= 0xff;
    CHECK_FALSE(verify_l4_checksum(p, again));
    REQUIRE(fill_l4_checksum(p, again));
    CHECK(again == s.bytes);
  }
}

TEST_CASE("checksum: UDP zero checksum", "[packet][checksum]") {
  V4 o;
  o.l4_csum = false;
  Bytes v4 = ipv4(o, udp(1, 2, 10));
  Parsed p;
  REQUIRE(parse(v4, &p) == ParseStatus::ok);
  CHECK(verify_l4_checksum(p, v4));  // RFC 768: no checksum
  V6 o6;
  o6.l4_csum = false;
  Bytes v6 = ipv6(o6, udp(1, 2, 10));
  REQUIRE(parse(v6, &p) == ParseStatus::ok);
  CHECK_FALSE(verify_l4_checksum(p, v6));  // RFC 8200 8.1: mandatory in IPv6
  REQUIRE(fill_l4_checksum(p, v6));
  CHECK(verify_l4_checksum(p, v6));
  CHECK(get16(v6, 46) != 0);
}

TEST_CASE("checksum: fill refuses packets without a checksummed L4 header", "[packet][checksum]") {
  for (const auto& s : valid_samples()) {
    if (s.has_l4 && !s.is_fragment) continue;
    INFO(s.name);
    Parsed p;
    REQUIRE(parse(s.bytes, &p) == ParseStatus::ok);
    Bytes b = s.bytes;
    CHECK_FALSE(fill_l4_checksum(p, b));
    CHECK(b == s.bytes);
  }
}
