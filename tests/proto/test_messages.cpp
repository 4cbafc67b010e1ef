#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "proto/messages.hpp"

using namespace ptun;
using namespace ptun::proto;

namespace {
std::vector<uint8_t> enc_hello(const ClientHello& h) {
  std::vector<uint8_t> b(256);
  auto n = encode_client_hello(h, b);
  REQUIRE(n.ok());
  b.resize(*n);
  return b;
}
}  // namespace

TEST_CASE("CLIENT_HELLO round trip", "[proto][messages]") {
  ClientHello h;
  h.software_version = "ptun 0.1.0 (linux)";
  h.want_ipv4 = true;
  h.want_ipv6 = false;
  auto b = enc_hello(h);
  CHECK(b[0] == 0x01);
  CHECK(b[1] == kProtocolVersion);
  auto d = decode_client_hello(b);
  REQUIRE(d.ok());
  CHECK(*d == h);
}

TEST_CASE("CLIENT_HELLO: every truncation inside a TLV fails, TLV boundaries parse", "[proto][messages]") {
  ClientHello h;
  h.software_version = "v1";
  auto b = enc_hello(h);  // 01 01 | 01 00 02 'v' '1' | 02 00 01 flags
  std::vector<size_t> tlv_ends = {2, 7, 11};
  for (size_t n = 0; n < b.size(); ++n) {
    auto d = decode_client_hello(std::span<const uint8_t>(b).first(n));
    bool boundary = std::find(tlv_ends.begin(), tlv_ends.end(), n) != tlv_ends.end();
    CHECK(d.ok() == boundary);
  }
}

TEST_CASE("CLIENT_HELLO: lying lengths, unknown TLVs, bad values", "[proto][messages]") {
  // Length claims more than remains.
  std::vector<uint8_t> lie = {0x01, 0x01, 0x01, 0x00, 0x09, 'a', 'b'};
  CHECK_FALSE(decode_client_hello(lie).ok());
  lie = {0x01, 0x01, 0x01, 0xff, 0xff};
  CHECK_FALSE(decode_client_hello(lie).ok());
  // Unknown TLV (type 0x7f) between known ones is skipped.
  std::vector<uint8_t> unk = {0x01, 0x01, 0x7f, 0x00, 0x03, 1, 2, 3, 0x01, 0x00, 0x01, 'x', 0x02, 0x00, 0x01, 0x01};
  auto d = decode_client_hello(unk);
  REQUIRE(d.ok());
  CHECK(d->software_version == "x");
  CHECK(d->want_ipv4);
  CHECK_FALSE(d->want_ipv6);
  // Flags of the wrong length, invalid UTF-8, an over-long version.
  std::vector<uint8_t> flags2 = {0x01, 0x01, 0x02, 0x00, 0x02, 0x03, 0x00};
  CHECK_FALSE(decode_client_hello(flags2).ok());
  std::vector<uint8_t> bad_utf8 = {0x01, 0x01, 0x01, 0x00, 0x02, 0xc3, 0x28};
  CHECK_FALSE(decode_client_hello(bad_utf8).ok());
  std::vector<uint8_t> longv = {0x01, 0x01, 0x01, 0x00, 65};
  longv.resize(longv.size() + 65, 'a');
  CHECK_FALSE(decode_client_hello(longv).ok());
  // The wrong type byte.
  std::vector<uint8_t> wrong = {0x02, 0x01};
  CHECK_FALSE(decode_client_hello(wrong).ok());
  // The encoder refuses what the decoder would refuse.
  ClientHello h;
  h.software_version.assign(65, 'a');
  std::vector<uint8_t> b(256);
  CHECK_FALSE(encode_client_hello(h, b).ok());
  h.software_version = "ok";
  CHECK_FALSE(encode_client_hello(h, std::span<uint8_t>(b).first(5)).ok());
}

TEST_CASE("PING/PONG round trip and truncation", "[proto][messages]") {
  Ping p{0x0102030405060708ull, 123456789};
  uint8_t b[kPingSize + 4] = {};
  REQUIRE(encode_ping(p, b) == kPingSize);
  CHECK(b[0] == 0x03);
  auto d = decode_ping({b, kPingSize});
  REQUIRE(d.ok());
  CHECK(*d == p);
  REQUIRE(encode_pong(p, b) == kPingSize);
  CHECK(b[0] == 0x04);
  CHECK(decode_ping({b, kPingSize}).value() == p);
  // Trailing bytes are reserved for extensions and ignored.
  CHECK(decode_ping({b, kPingSize + 4}).ok());
  for (size_t n = 0; n < kPingSize; ++n) CHECK_FALSE(decode_ping({b, n}).ok());
  CHECK(encode_ping(p, {b, kPingSize - 1}) == 0);
}

TEST_CASE("CLOSE round trip, unknown reasons and text bounds", "[proto][messages]") {
  std::vector<uint8_t> b(300);
  auto n = encode_close(CloseReason::auth_refused, "no peer 'alice' in the config", b);
  REQUIRE(n.ok());
  auto d = decode_close(std::span<const uint8_t>(b).first(*n));
  REQUIRE(d.ok());
  CHECK(d->reason == CloseReason::auth_refused);
  CHECK(d->text == "no peer 'alice' in the config");

  CHECK_FALSE(decode_close(std::span<const uint8_t>(b).first(1)).ok());
  CHECK_FALSE(decode_close({}).ok());

  // 14 (replaced, another device took the session) is known; an older peer reads it as 0.
  n = encode_close(CloseReason::replaced, "connected to server s2", b);
  REQUIRE(n.ok());
  CHECK(b[1] == 14);
  CHECK(decode_close(std::span<const uint8_t>(b).first(*n))->reason == CloseReason::replaced);

  std::vector<uint8_t> future = {0x05, 200, 'h', 'i'};
  auto f = decode_close(future);
  REQUIRE(f.ok());
  CHECK(f->reason == CloseReason::none);
  CHECK(f->text == "hi");

  std::vector<uint8_t> junk = {0x05, 0x02, 0xff, 0xfe};
  CHECK(decode_close(junk)->text == "(invalid text)");

  // A long multi-byte text is cut at a character boundary, on both sides.
  std::string euro;
  for (int i = 0; i < 100; ++i) euro += "\xe2\x82\xac";  // 300 bytes
  n = encode_close(CloseReason::kicked, euro, b);
  REQUIRE(n.ok());
  CHECK(*n - 2 <= kMaxCloseText);
  CHECK((*n - 2) % 3 == 0);
  d = decode_close(std::span<const uint8_t>(b).first(*n));
  CHECK(valid_utf8(d->text));
  std::vector<uint8_t> raw = {0x05, 0x06};
  raw.insert(raw.end(), euro.begin(), euro.end());
  d = decode_close(raw);
  REQUIRE(d.ok());
  CHECK(d->text.size() <= kMaxCloseText);
  CHECK(d->text.size() % 3 == 0);
}

TEST_CASE("every CloseReason has a name", "[proto][messages]") {
  for (int r = 0; r <= kMaxCloseReason; ++r) CHECK(std::string(to_string(CloseReason(r))).size() > 3);
  CHECK(std::string(to_string(CloseReason::auth_refused)) == "authorization refused");
}

TEST_CASE("UTF-8 validation", "[proto][messages]") {
  CHECK(valid_utf8(std::string_view("plain ascii")));
  CHECK(valid_utf8(std::string_view("caf\xc3\xa9 \xf0\x9f\x98\x80")));
  CHECK_FALSE(valid_utf8(std::string_view("\xc0\xaf")));          // overlong '/'
  CHECK_FALSE(valid_utf8(std::string_view("\xed\xa0\x80")));      // surrogate
  CHECK_FALSE(valid_utf8(std::string_view("\xf4\x90\x80\x80")));  // above U+10FFFF
  CHECK_FALSE(valid_utf8(std::string_view("\xe2\x82")));          // truncated
  CHECK_FALSE(valid_utf8(std::string_view("\x80")));
  CHECK(utf8_prefix("\xe2\x82\xac\xe2\x82\xac", 4) == "\xe2\x82\xac");
  CHECK(utf8_prefix("abc", 10) == "abc");
}
