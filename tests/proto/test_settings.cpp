#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "common/rng.hpp"
#include "proto/settings.hpp"

using namespace ptun;
using namespace ptun::proto;

namespace {

NetworkSettings full_settings() {
  NetworkSettings s;
  s.ipv4 = *Cidr::parse_interface("10.99.0.2/24");
  s.ipv6 = *Cidr::parse_interface("fd00:99::2/64");
  s.server_ipv4 = *IpAddr::parse("10.99.0.1");
  s.server_ipv6 = *IpAddr::parse("fd00:99::1");
  s.mtu = 1380;
  s.included_routes = {*Cidr::parse("0.0.0.0/0"), *Cidr::parse("::/0")};
  s.excluded_routes = {*Cidr::parse("192.168.0.0/16")};
  s.dns_servers = {*IpAddr::parse("10.99.0.1"), *IpAddr::parse("fd00:99::1")};
  s.search_domains = {"corp.example"};
  s.match_domains = {"internal.example", "svc.cluster.local"};
  s.keepalive_secs = 15;
  s.dead_peer_secs = 45;
  s.protect_routes = true;
  return s;
}

std::vector<uint8_t> one_part(const NetworkSettings& s, uint64_t sid) {
  auto parts = encode_settings(s, sid, 1400);
  REQUIRE(parts.ok());
  REQUIRE(parts->size() == 1);
  return (*parts)[0];
}

}  // namespace

TEST_CASE("SETTINGS round trip (single part)", "[proto][settings]") {
  auto s = full_settings();
  auto b = one_part(s, 0x123456789abcdeull);
  CHECK(b[0] == 0x02);
  CHECK(b[1] == 0);
  CHECK(b[2] == 1);
  uint64_t sid = 0;
  auto d = decode_settings(b, &sid);
  REQUIRE(d.ok());
  CHECK(*d == s);
  CHECK(sid == 0x123456789abcdeull);
}

TEST_CASE("SETTINGS: match domain \"\" (every name, the example server's full-tunnel DNS) round trips", "[proto][settings]") {
  NetworkSettings s = full_settings();
  s.match_domains = {""};
  uint64_t sid = 0;
  auto d = decode_settings(one_part(s, 9), &sid);
  REQUIRE(d.ok());
  CHECK(d->match_domains == std::vector<std::string>{""});
  CHECK(*d == s);
}

TEST_CASE("SETTINGS: protect_routes is one byte when on, absent when off (older clients skip it)", "[proto][settings]") {
  NetworkSettings s = full_settings();
  auto on = one_part(s, 3);
  s.protect_routes = false;
  auto off = one_part(s, 3);
  CHECK(on.size() == off.size() + 4);
  uint64_t sid = 0;
  auto d = decode_settings(off, &sid);
  REQUIRE(d.ok());
  CHECK_FALSE(d->protect_routes);
  std::vector<uint8_t> zero = off;
  zero.insert(zero.end(), {0x0e, 0x00, 0x01, 0});
  d = decode_settings(zero, &sid);
  REQUIRE(d.ok());
  CHECK_FALSE(d->protect_routes);
  d = decode_settings(on, &sid);
  REQUIRE(d.ok());
  CHECK(d->protect_routes);
}

TEST_CASE("SETTINGS: the server's clock (TLV 0x0f) for the client's clock skew, absent = 0", "[proto][settings]") {
  NetworkSettings s = full_settings();
  auto with = encode_settings(s, 7, 1400, 1'796'000'000);   // 2026-11-29
  auto without = encode_settings(s, 7, 1400);
  REQUIRE((with.ok() && without.ok()));
  CHECK((*with)[0].size() == (*without)[0].size() + 11);   // type, length, 8 bytes
  uint64_t sid = 0;
  int64_t t = -1;
  auto d = decode_settings((*with)[0], &sid, &t);
  REQUIRE(d.ok());
  CHECK(t == 1'796'000'000);
  CHECK(*d == s);   // not a network setting: equal settings stay equal whatever the clock said
  d = decode_settings((*without)[0], &sid, &t);
  REQUIRE(d.ok());
  CHECK(t == 0);
  // A decoder that does not ask (older code paths) skips it.
  REQUIRE(decode_settings((*with)[0], &sid).ok());
  // Any other length is refused.
  std::vector<uint8_t> bad = (*without)[0];
  bad.insert(bad.end(), {0x0f, 0x00, 0x04, 0, 0, 0, 1});
  CHECK_FALSE(decode_settings(bad, &sid, &t).ok());
  // Past 2038 (64 bits on every target).
  auto late = encode_settings(s, 7, 1400, int64_t(1) << 33);
  REQUIRE(late.ok());
  REQUIRE(decode_settings((*late)[0], &sid, &t).ok());
  CHECK(t == int64_t(1) << 33);
}

TEST_CASE("SETTINGS with nothing optional", "[proto][settings]") {
  NetworkSettings s;
  s.keepalive_secs = 0;
  s.dead_peer_secs = 0;
  auto b = one_part(s, 1);
  uint64_t sid = 0;
  auto d = decode_settings(b, &sid);
  REQUIRE(d.ok());
  CHECK(*d == s);
}

TEST_CASE("SETTINGS: every truncation of the TLV stream is caught or lands on a boundary", "[proto][settings]") {
  auto b = one_part(full_settings(), 9);
  // Walk TLV boundaries to know which prefixes are well-formed.
  std::vector<size_t> boundaries = {3};
  for (size_t p = 3; p < b.size();) {
    p += 3 + ((b[p + 1] << 8) | b[p + 2]);
    boundaries.push_back(p);
  }
  REQUIRE(boundaries.back() == b.size());
  for (size_t n = 0; n < b.size(); ++n) {
    uint64_t sid = 0;
    auto d = decode_settings(std::span<const uint8_t>(b).first(n), &sid);
    bool boundary = std::find(boundaries.begin(), boundaries.end(), n) != boundaries.end();
    INFO("prefix " << n);
    CHECK(d.ok() == boundary);
  }
}

TEST_CASE("SETTINGS: lying lengths and bad values are refused", "[proto][settings]") {
  uint64_t sid = 0;
  auto check_bad = [&](std::vector<uint8_t> tlvs) {
    std::vector<uint8_t> m = {0x02, 0, 1};
    m.insert(m.end(), tlvs.begin(), tlvs.end());
    CHECK_FALSE(decode_settings(m, &sid).ok());
  };
  check_bad({0x01, 0x00, 0x06, 10, 0, 0, 1, 24});        // length says 6, 5 present
  check_bad({0x01, 0x00, 0x04, 10, 0, 0, 1});            // ipv4 TLV with 4 bytes
  check_bad({0x01, 0x00, 0x05, 10, 0, 0, 1, 33});        // prefix 33
  check_bad({0x06, 0x00, 0x03, 1, 2, 3});                // route of 3 bytes
  check_bad({0x08, 0x00, 0x05, 1, 2, 3, 4, 5});          // DNS of 5 bytes
  check_bad({0x05, 0x00, 0x02, 0x01, 0x00});             // mtu 256
  check_bad({0x0b, 0x00, 0x04, 0xff, 0xff, 0xff, 0xff});  // keepalive too long
  check_bad({0x09, 0x00, 0x03, 'a', ' ', 'b'});          // domain with a space
  check_bad({0x09, 0x00, 0x00});                         // empty domain
  check_bad({0x09, 0x00, 0x02, '-', 'x'});               // an option to resolvectl (issue 19)
  check_bad({0x0a, 0x00, 0x06, 'a', '.', '-', '-', 'x', 'y'});
  check_bad({0x0d, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 1});    // session id of 7 bytes
  check_bad({0x0e, 0x00, 0x01, 2});                      // protect_routes neither 0 nor 1
  check_bad({0x0e, 0x00, 0x02, 0, 1});                   // protect_routes of 2 bytes
  check_bad({0xff, 0xff});                               // truncated TLV header
  // Part header problems.
  std::vector<uint8_t> m = {0x02, 1, 1};
  CHECK_FALSE(decode_settings_part(m).ok());  // index >= count
  m = {0x02, 0, 0};
  CHECK_FALSE(decode_settings_part(m).ok());
  m = {0x02, 0, 17};
  CHECK_FALSE(decode_settings_part(m).ok());
  m = {0x02, 0};
  CHECK_FALSE(decode_settings_part(m).ok());
  m = {0x03, 0, 1};
  CHECK_FALSE(decode_settings_part(m).ok());
}

TEST_CASE("SETTINGS: unknown TLVs are skipped, routes are normalised", "[proto][settings]") {
  std::vector<uint8_t> m = {0x02, 0, 1,
                            0x70, 0x00, 0x02, 0xde, 0xad,           // unknown
                            0x06, 0x00, 0x05, 10, 1, 2, 3, 8,       // 10.1.2.3/8 -> 10.0.0.0/8
                            0x71, 0x00, 0x00,                       // unknown, empty
                            0x05, 0x00, 0x02, 0x05, 0x00};          // mtu 1280
  uint64_t sid = 0;
  auto d = decode_settings(m, &sid);
  REQUIRE(d.ok());
  REQUIRE(d->included_routes.size() == 1);
  CHECK(d->included_routes[0].str() == "10.0.0.0/8");
  CHECK(d->mtu == 1280);
  CHECK(sid == 0);
}

TEST_CASE("SETTINGS: list bounds", "[proto][settings]") {
  std::vector<uint8_t> m = {0x02, 0, 1};
  for (size_t i = 0; i <= kMaxDnsServers; ++i) m.insert(m.end(), {0x08, 0x00, 0x04, 10, 0, 0, uint8_t(i)});
  uint64_t sid = 0;
  CHECK_FALSE(decode_settings(m, &sid).ok());

  NetworkSettings s;
  s.dns_servers.assign(kMaxDnsServers + 1, *IpAddr::parse("10.0.0.1"));
  CHECK(encode_settings(s, 1, 1400).error().code == Errc::invalid_argument);
  s = NetworkSettings{};
  s.search_domains = {"bad domain"};
  CHECK_FALSE(encode_settings(s, 1, 1400).ok());
  s.search_domains = {"--interface=lo"};
  CHECK_FALSE(encode_settings(s, 1, 1400).ok());
  s = NetworkSettings{};
  s.match_domains = {"corp.example", "-h"};
  CHECK_FALSE(encode_settings(s, 1, 1400).ok());
  s = NetworkSettings{};
  s.search_domains = {""};   // the root is a match domain only
  CHECK_FALSE(encode_settings(s, 1, 1400).ok());
  s = NetworkSettings{};
  s.ipv4 = *Cidr::parse("fd00::/64");  // wrong family
  CHECK_FALSE(encode_settings(s, 1, 1400).ok());
}

TEST_CASE("SETTINGS split into parts and reassembled in any order", "[proto][settings]") {
  NetworkSettings s = full_settings();
  for (int i = 0; i < 600; ++i)
    s.included_routes.push_back(Cidr{IpAddr::v4(uint32_t(0x0a000000u | (uint32_t(i) << 8))), 24});
  auto parts = encode_settings(s, 77, 1200);
  REQUIRE(parts.ok());
  REQUIRE(parts->size() > 1);
  for (const auto& p : *parts) CHECK(p.size() <= 1200);

  SeededRng rng(3);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::vector<uint8_t>> order = *parts;
    // Shuffle and duplicate some parts.
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.u32() % i]);
    order.push_back(order[rng.u32() % order.size()]);
    SettingsAssembler a;
    SettingsAssembler::Status st = SettingsAssembler::Status::incomplete;
    size_t fed = 0;
    for (const auto& p : order) {
      st = a.add(p);
      ++fed;
      if (st == SettingsAssembler::Status::complete) break;
    }
    REQUIRE(st == SettingsAssembler::Status::complete);
    uint64_t sid = 0;
    auto d = a.result(&sid);
    REQUIRE(d.ok());
    CHECK(*d == s);
    CHECK(sid == 77);
  }

  SettingsAssembler a;
  std::vector<uint8_t> junk = {0x02, 5};
  CHECK(a.add(junk) == SettingsAssembler::Status::bad);

  // Too large for 16 parts of this size.
  CHECK(encode_settings(s, 1, 200).error().code == Errc::limit);
  CHECK(encode_settings(s, 1, 3).error().code == Errc::limit);
}

TEST_CASE("valid_domain", "[proto][settings]") {
  CHECK(valid_domain("example.com"));
  CHECK(valid_domain("_srv.example-1.com"));
  CHECK_FALSE(valid_domain(""));
  CHECK_FALSE(valid_domain("a b"));
  CHECK_FALSE(valid_domain("-x"));
  CHECK_FALSE(valid_domain("corp.-x"));
  CHECK(valid_domain("x-.corp"));
  CHECK_FALSE(valid_domain(std::string(64, 'a') + ".com"));
  CHECK_FALSE(valid_domain(std::string(254, 'a')));
}
