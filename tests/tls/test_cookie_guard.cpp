// CookieGuard: stateless HelloVerify, amplification bound, cookie binding to the client id.
#include <catch2/catch.hpp>

#include "dtls_pair.hpp"
#include "tls/dtls_record.hpp"
#include "tls_fixture.hpp"

using namespace ptun;
using namespace ptun::tls;
using namespace ptun::tls::testing;
using Verdict = CookieGuard::Verdict;

namespace {

Datagram first_client_hello() {
  auto& pki = TestPki::get();
  DtlsPair p(pki.creds(pki.client), pki.creds(pki.server));
  p.start();
  REQUIRE(p.to_server.size() == 1);
  return p.to_server.front();
}

// Puts `cookie` into a cookieless ClientHello, fixing the three length fields.
Datagram with_cookie(const Datagram& hello, std::span<const uint8_t> cookie) {
  wire::ClientHelloView v;
  REQUIRE(wire::parse_client_hello(hello, &v) == wire::ClientHelloParse::ok);
  REQUIRE(v.cookie.empty());
  size_t sid_len = hello[13 + 12 + 34];
  size_t at = 13 + 12 + 35 + sid_len;  // cookie length byte
  Datagram d(hello.begin(), hello.begin() + long(at));
  d.push_back(uint8_t(cookie.size()));
  d.insert(d.end(), cookie.begin(), cookie.end());
  d.insert(d.end(), hello.begin() + long(at) + 1, hello.end());
  size_t rec_len = d.size() - 13, msg_len = rec_len - 12;
  d[11] = uint8_t(rec_len >> 8), d[12] = uint8_t(rec_len);
  for (size_t off : {size_t(14), size_t(22)}) {  // message length and fragment length
    d[off] = uint8_t(msg_len >> 16), d[off + 1] = uint8_t(msg_len >> 8), d[off + 2] = uint8_t(msg_len);
  }
  return d;
}

}  // namespace

TEST_CASE("CookieGuard answers, then accepts its own cookie", "[tls][cookie]") {
  SeededRng rng(5);
  auto guard = CookieGuard::make(rng);
  REQUIRE(guard);
  Datagram hello = first_client_hello();
  const uint8_t addr[] = {10, 0, 0, 1, 0x12, 0x34};
  const uint8_t other_addr[] = {10, 0, 0, 2, 0x12, 0x34};

  uint8_t reply[512];
  size_t len = 99;
  REQUIRE((*guard)->check(hello, addr, reply, sizeof reply, &len) == Verdict::no_or_bad_cookie);
  REQUIRE(len > 0);
  CHECK(len <= hello.size());

  // The reply is a HelloVerifyRequest echoing the ClientHello's record sequence number.
  wire::RecordHeader rh, ch;
  REQUIRE(wire::parse_record_header(std::span<const uint8_t>(reply, len), &rh));
  REQUIRE(wire::parse_record_header(hello, &ch));
  CHECK(rh.seq == ch.seq);
  CHECK(reply[13] == wire::kHsHelloVerifyRequest);
  size_t cookie_len = reply[13 + 12 + 2];
  std::span<const uint8_t> cookie(reply + 13 + 12 + 3, cookie_len);
  REQUIRE(13 + 12 + 3 + cookie_len == len);

  Datagram good = with_cookie(hello, cookie);
  CHECK((*guard)->check(good, addr, reply, sizeof reply, &len) == Verdict::ok);
  CHECK(len == 0);
  // Bound to the address: the same cookie from elsewhere gets a fresh HelloVerifyRequest.
  CHECK((*guard)->check(good, other_addr, reply, sizeof reply, &len) == Verdict::no_or_bad_cookie);
  CHECK(len > 0);
  // A flipped cookie bit is refused.
  Datagram bad = good;
  bad[13 + 12 + 35 + hello[13 + 12 + 34] + 10] ^= 0x40;
  CHECK((*guard)->check(bad, addr, reply, sizeof reply, &len) == Verdict::no_or_bad_cookie);
  // Another guard (another key) does not accept this guard's cookie.
  SeededRng rng2(6);
  auto guard2 = CookieGuard::make(rng2);
  REQUIRE(guard2);
  CHECK((*guard2)->check(good, addr, reply, sizeof reply, &len) == Verdict::no_or_bad_cookie);
}

TEST_CASE("CookieGuard never replies with more than it received", "[tls][cookie]") {
  SeededRng rng(7);
  auto guard = CookieGuard::make(rng);
  REQUIRE(guard);
  Datagram hello = first_client_hello();
  const uint8_t addr[] = {1, 2, 3, 4};
  uint8_t reply[512];
  size_t len = 0;
  SECTION("cap smaller than the HelloVerifyRequest") {
    CHECK((*guard)->check(hello, addr, reply, 59, &len) == Verdict::no_or_bad_cookie);
    CHECK(len == 0);
    CHECK((*guard)->check(hello, addr, reply, 60, &len) == Verdict::no_or_bad_cookie);
    CHECK(len == 60);
  }
  SECTION("a minimal ClientHello smaller than the reply gets none") {
    // 1 suite, 1 compression method, no session id, no extensions: 67 bytes > 60. Shrink further
    // is impossible for a well-formed hello, so check the bound holds at the minimum.
    Datagram min = {22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 54,
                    1, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 42, 254, 253};
    min.resize(min.size() + 32, 0x11);            // random
    for (uint8_t b : {0, 0, 0, 2, 0xc0, 0x2b, 1, 0}) min.push_back(b);  // sid, cookie, suites, comp
    REQUIRE(min.size() == 67);
    CHECK((*guard)->check(min, addr, reply, sizeof reply, &len) == Verdict::no_or_bad_cookie);
    CHECK(len == 60);
  }
  SECTION("not a ClientHello or malformed: no reply") {
    const Datagram inputs[] = {{}, {23, 254, 253}, Datagram(13, 0), Datagram(hello.begin(), hello.end() - 1)};
    for (const auto& d : inputs) {
      len = 77;
      CHECK((*guard)->check(d, addr, reply, sizeof reply, &len) != Verdict::no_or_bad_cookie);
      CHECK(len == 0);
    }
    CHECK(verdict_name(Verdict::malformed) == std::string("malformed"));
  }
}
