// Record-layer and ClientHello parsing on real ClientHellos (captured from an mbedTLS client in a
// DtlsPair) and on table-driven corruptions of them.
#include <catch2/catch.hpp>

#include "dtls_pair.hpp"
#include "tls/dtls_record.hpp"
#include "tls_fixture.hpp"

using namespace ptun;
using namespace ptun::tls;
using namespace ptun::tls::testing;
using wire::ClientHelloParse;

namespace {

// The cookieless and the cookie-carrying ClientHello of one real handshake.
std::pair<Datagram, Datagram> real_client_hellos() {
  auto& pki = TestPki::get();
  DtlsPair p(pki.creds(pki.client), pki.creds(pki.server));
  if (!p.handshake() || p.guard_inputs.size() != 2) FAIL("handshake for ClientHello capture failed");
  return {p.guard_inputs[0], p.guard_inputs[1]};
}

// Offsets inside a ClientHello datagram (record header 13 + handshake header 12).
constexpr size_t kHs = wire::kRecordHeaderLen;
constexpr size_t kBody = kHs + wire::kHandshakeHeaderLen;
constexpr size_t kSidLen = kBody + 2 + 32;

}  // namespace

TEST_CASE("parse real ClientHellos", "[tls][wire]") {
  auto [first, second] = real_client_hellos();
  wire::ClientHelloView v;
  REQUIRE(wire::parse_client_hello(first, &v) == ClientHelloParse::ok);
  CHECK(v.record.type == wire::kContentHandshake);
  CHECK(v.record.epoch == 0);
  CHECK(v.message_seq == 0);
  CHECK(v.client_major == 254);
  CHECK(v.client_minor == 253);
  CHECK(v.cookie.empty());
  REQUIRE(wire::parse_client_hello(second, &v) == ClientHelloParse::ok);
  CHECK(v.message_seq == 1);
  CHECK(v.cookie.size() == 32);  // mbedTLS cookie: 4-byte time + 28-byte HMAC
  CHECK(v.record.seq == 1);
}

TEST_CASE("every truncation of a ClientHello is rejected", "[tls][wire]") {
  auto [first, second] = real_client_hellos();
  for (const Datagram* d : {&first, &second}) {
    for (size_t len = 0; len < d->size(); ++len) {
      INFO("length " << len);
      wire::ClientHelloView v;
      Datagram cut(d->begin(), d->begin() + long(len));
      CHECK(wire::parse_client_hello(cut, &v) != ClientHelloParse::ok);
      // A record header that fits but whose record does not is malformed, not "not a hello".
      if (len >= wire::kRecordHeaderLen) CHECK(wire::parse_client_hello(cut, &v) == ClientHelloParse::malformed);
    }
  }
}

TEST_CASE("ClientHello corruptions", "[tls][wire]") {
  auto [hello, unused] = real_client_hellos();
  (void)unused;
  struct Case {
    const char* what;
    size_t offset;
    uint8_t value;
    ClientHelloParse expect;
  };
  const size_t sid_len = hello[kSidLen];
  const size_t cookie_len_at = kSidLen + 1 + sid_len;
  const Case cases[] = {
      {"application data record", 0, wire::kContentApplicationData, ClientHelloParse::not_client_hello},
      {"TLS (not DTLS) version", 1, 3, ClientHelloParse::not_client_hello},
      {"epoch 1", 4, 1, ClientHelloParse::not_client_hello},
      {"ServerHello", kHs, 2, ClientHelloParse::not_client_hello},
      {"fragment offset", kHs + 8, 1, ClientHelloParse::malformed},
      {"fragment length", kHs + 11, 0, ClientHelloParse::malformed},
      {"message length", kHs + 3, 0xff, ClientHelloParse::malformed},
      {"record length too long", 12, 0xff, ClientHelloParse::malformed},
      {"client_version TLS", kBody, 3, ClientHelloParse::malformed},
      {"session id longer than 32", kSidLen, 33, ClientHelloParse::malformed},
      {"cookie longer than the message", cookie_len_at, 250, ClientHelloParse::malformed},
      {"odd cipher suite length", cookie_len_at + 2, 0x03, ClientHelloParse::malformed},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Datagram d = hello;
    REQUIRE(c.offset < d.size());
    d[c.offset] = c.value;
    wire::ClientHelloView v;
    CHECK(wire::parse_client_hello(d, &v) == c.expect);
  }
  SECTION("trailing bytes inside the record") {
    Datagram d = hello;
    d.push_back(0);
    d[12] = uint8_t(d[12] + 1);  // record length +1 (low byte; a ClientHello is < 256 + ...)
    wire::ClientHelloView v;
    CHECK(wire::parse_client_hello(d, &v) == ClientHelloParse::malformed);
  }
  SECTION("a second record after the ClientHello is ignored") {
    Datagram d = hello;
    d.insert(d.end(), hello.begin(), hello.end());
    wire::ClientHelloView v;
    CHECK(wire::parse_client_hello(d, &v) == ClientHelloParse::ok);
  }
}

TEST_CASE("HelloVerifyRequest encoding", "[tls][wire]") {
  auto [hello, unused] = real_client_hellos();
  (void)unused;
  wire::ClientHelloView ch;
  REQUIRE(wire::parse_client_hello(hello, &ch) == ClientHelloParse::ok);
  ch.record.seq = 0x0102030405;
  const uint8_t cookie[32] = {1, 2, 3};
  uint8_t out[128];
  size_t n = wire::encode_hello_verify_request(ch, cookie, out, sizeof out);
  REQUIRE(n == wire::hello_verify_request_len(32));
  CHECK(n == 60);
  const uint8_t expect_head[] = {22, 254, 253, 0, 0, 0, 1, 2, 3, 4, 5, 0, 47,  // record
                                 3, 0, 0, 35, 0, 0, 0, 0, 0, 0, 0, 35,       // handshake header
                                 254, 255, 32, 1, 2, 3};                     // body
  CHECK(std::equal(std::begin(expect_head), std::end(expect_head), out));
  wire::RecordHeader h;
  REQUIRE(wire::parse_record_header(std::span<const uint8_t>(out, n), &h));
  CHECK(h.length == n - wire::kRecordHeaderLen);
  CHECK(wire::encode_hello_verify_request(ch, cookie, out, n - 1) == 0);
  uint8_t long_cookie[256] = {};
  CHECK(wire::encode_hello_verify_request(ch, long_cookie, out, sizeof out) == 0);
}

TEST_CASE("count_records walks a datagram", "[tls][wire]") {
  auto rec = [](uint8_t type, size_t len) {
    Datagram d = {type, 254, 253, 0, 1, 0, 0, 0, 0, 0, 9, uint8_t(len >> 8), uint8_t(len)};
    d.resize(d.size() + len, 0xee);
    return d;
  };
  Datagram d;
  for (auto part : {rec(23, 40), rec(22, 10), rec(23, 0), rec(23, 300)}) d.insert(d.end(), part.begin(), part.end());
  CHECK(wire::count_records(d, wire::kContentApplicationData) == 3);
  CHECK(wire::count_records(d, wire::kContentHandshake) == 1);
  d.pop_back();  // truncated last record is not counted
  CHECK(wire::count_records(d, wire::kContentApplicationData) == 2);
  CHECK(wire::count_records({}, wire::kContentApplicationData) == 0);
}
