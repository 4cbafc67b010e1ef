#include <catch2/catch.hpp>

#include <vector>

#include "proto/wire.hpp"

using namespace ptun;
using namespace ptun::proto;

TEST_CASE("outer header round trip", "[proto][wire]") {
  SeededRng rng(7);
  for (int i = 0; i < 1000; ++i) {
    uint64_t id = random_session_id(rng);
    REQUIRE(id != 0);
    REQUIRE(id <= kSessionIdMask);
    std::vector<uint8_t> d(kOuterHeaderSize + 1, 0xaa);
    encode_outer_header(d.data(), id);
    OuterHeader h;
    REQUIRE(decode_outer_header(d, &h) == HeaderStatus::ok);
    CHECK(h.session_id == id);
    CHECK(h.version == 1);
    CHECK(h.kind == Kind::dtls);
  }
}

TEST_CASE("outer header layout is big endian with version in the high nibble", "[proto][wire]") {
  uint8_t b[9] = {};
  encode_outer_header(b, 0x01020304050607ull);
  CHECK(b[0] == 0x10);
  for (int i = 1; i < 8; ++i) CHECK(b[i] == i);
  // Bits above 56 are masked off, never leak into the version byte.
  encode_outer_header(b, 0xff00000000000001ull);
  CHECK(b[0] == 0x10);
  CHECK(b[7] == 1);
}

TEST_CASE("outer header rejects every truncation and reserved values", "[proto][wire]") {
  uint8_t full[12] = {0x10, 0, 0, 0, 0, 0, 0, 5, 22, 0xfe, 0xfd, 0};
  OuterHeader h;
  for (size_t n = 0; n <= kOuterHeaderSize; ++n)
    CHECK(decode_outer_header({full, n}, &h) == HeaderStatus::too_short);
  CHECK(decode_outer_header({full, 9}, &h) == HeaderStatus::ok);

  uint8_t v2[9] = {0x20, 0, 0, 0, 0, 0, 0, 5, 0};
  CHECK(decode_outer_header(v2, &h) == HeaderStatus::unknown_version);
  uint8_t v0[9] = {0x00, 0, 0, 0, 0, 0, 0, 5, 0};
  CHECK(decode_outer_header(v0, &h) == HeaderStatus::unknown_version);
  uint8_t k2[9] = {0x12, 0, 0, 0, 0, 0, 0, 5, 0};
  CHECK(decode_outer_header(k2, &h) == HeaderStatus::unknown_kind);
  // kind 1, the "unknown session" hint, is the header alone.
  uint8_t k1[8] = {0x11, 0, 0, 0, 0, 0, 0, 5};
  REQUIRE(decode_outer_header(k1, &h) == HeaderStatus::ok);
  CHECK(h.kind == Kind::unknown_session);
  CHECK(h.session_id == 5);
  uint8_t z[9] = {0x10, 0, 0, 0, 0, 0, 0, 0, 0};
  CHECK(decode_outer_header(z, &h) == HeaderStatus::zero_session);
  // IP packets arriving on the port by mistake are an unknown version, not a crash.
  uint8_t ip4[20] = {0x45};
  CHECK(decode_outer_header(ip4, &h) == HeaderStatus::unknown_version);
}

TEST_CASE("inner records are classified by their first nibble", "[proto][wire]") {
  uint8_t v4[] = {0x45, 0}, v6[] = {0x60, 0}, ctl[] = {0x03}, bad[] = {0x10}, hi[] = {0xf0};
  CHECK(classify_inner(v4) == InnerKind::ipv4);
  CHECK(classify_inner(v6) == InnerKind::ipv6);
  CHECK(classify_inner(ctl) == InnerKind::control);
  CHECK(classify_inner(bad) == InnerKind::unknown);
  CHECK(classify_inner(hi) == InnerKind::unknown);
  CHECK(classify_inner({}) == InnerKind::empty);
}

TEST_CASE("looks_like_client_hello checks record type, version, epoch and message type", "[proto][wire]") {
  std::vector<uint8_t> ch(13 + 12 + 40, 0);
  ch[0] = 22;
  ch[1] = 0xfe;
  ch[2] = 0xfd;
  ch[13] = 1;
  CHECK(looks_like_client_hello(ch));
  auto m = ch;
  m[0] = 23;
  CHECK_FALSE(looks_like_client_hello(m));
  m = ch;
  m[4] = 1;  // epoch 1: encrypted, an existing association
  CHECK_FALSE(looks_like_client_hello(m));
  m = ch;
  m[13] = 2;
  CHECK_FALSE(looks_like_client_hello(m));
  m = ch;
  m[1] = 0x03;  // TLS, not DTLS
  CHECK_FALSE(looks_like_client_hello(m));
  CHECK_FALSE(looks_like_client_hello(std::span<const uint8_t>(ch).first(24)));
}

TEST_CASE("looks_like_client_hello scans every record of the datagram", "[proto][wire]") {
  // Issue 19 item 5: an encrypted record in front must not hide a ClientHello behind it.
  std::vector<uint8_t> app = {23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 7, 0, 5, 1, 2, 3, 4, 5};
  std::vector<uint8_t> ch(13 + 12 + 40, 0);
  ch[0] = 22;
  ch[1] = 0xfe;
  ch[2] = 0xfd;
  ch[12] = 12 + 40;
  ch[13] = 1;
  auto d = app;
  d.insert(d.end(), ch.begin(), ch.end());
  CHECK(looks_like_client_hello(d));
  d = app;
  d.insert(d.end(), app.begin(), app.end());
  d.insert(d.end(), ch.begin(), ch.end());
  CHECK(looks_like_client_hello(d));
  // A record length running past the end stops the scan (mbedTLS drops the rest too).
  d = app;
  d[12] = 200;
  d.insert(d.end(), ch.begin(), ch.end());
  CHECK_FALSE(looks_like_client_hello(d));
  d = app;
  d.insert(d.end(), app.begin(), app.end());
  CHECK_FALSE(looks_like_client_hello(d));
}

TEST_CASE("endpoint id bytes differ by address, port and family", "[proto][wire]") {
  uint8_t a[kMaxEndpointIdSize], b[kMaxEndpointIdSize];
  auto e1 = *Endpoint::parse("192.0.2.1:4000");
  auto e2 = *Endpoint::parse("192.0.2.1:4001");
  auto e3 = *Endpoint::parse("[2001:db8::1]:4000");
  size_t n1 = endpoint_id_bytes(e1, a);
  CHECK(n1 == 7);
  size_t n2 = endpoint_id_bytes(e2, b);
  CHECK(std::vector<uint8_t>(a, a + n1) != std::vector<uint8_t>(b, b + n2));
  CHECK(endpoint_id_bytes(e3, b) == 19);
}

TEST_CASE("MTU arithmetic", "[proto][wire]") {
  // 1500 - 20 IPv4 - 8 UDP - 8 outer - 37 AES-GCM record.
  STATIC_REQUIRE(tunnel_mtu(1500, Family::v4, kAesGcmRecordOverhead) == 1427);
  STATIC_REQUIRE(tunnel_mtu(1500, Family::v6, kAesGcmRecordOverhead) == 1407);
  STATIC_REQUIRE(tunnel_mtu(1500, Family::v4, kChachaRecordOverhead) == 1435);
  STATIC_REQUIRE(tunnel_mtu(60, Family::v6, kAesGcmRecordOverhead) == 0);
  STATIC_REQUIRE(dtls_mtu(1500, Family::v4) == 1464);
  STATIC_REQUIRE(tunnel_overhead(Family::v4, 29) == 65);
}
