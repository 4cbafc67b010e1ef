#include <catch2/catch.hpp>

#include "netcfg/dns_forwarder.hpp"
#include "netcfg/dns_message.hpp"

using namespace ptun;
using namespace ptun::netcfg;

namespace {

std::vector<uint8_t> query(uint16_t id, const std::string& name) {
  std::vector<uint8_t> m = {uint8_t(id >> 8), uint8_t(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    m.push_back(uint8_t(dot - start));
    m.insert(m.end(), name.begin() + long(start), name.begin() + long(dot));
    start = dot + 1;
  }
  m.insert(m.end(), {0, 0, 1, 0, 1});
  return m;
}

ForwarderCore make(uint32_t* counter) {
  return ForwarderCore({"corp.example"}, {*IpAddr::parse("10.99.0.1")}, {*IpAddr::parse("192.0.2.53")},
                       [counter] { return (*counter)++ * 7919u; });
}

}  // namespace

TEST_CASE("forwarder: matching names to the tunnel, others to the original resolver", "[forwarder]") {
  uint32_t n = 1;
  auto f = make(&n);
  Endpoint client = *Endpoint::parse("127.0.0.1:40000");
  auto q = query(0xabcd, "Host.CORP.example");
  auto up = f.on_query(q, client, 1000);
  REQUIRE(up);
  CHECK(*up == *Endpoint::parse("10.99.0.1:53"));
  uint16_t wire_id = dns_id(q);
  CHECK(wire_id != 0xabcd);
  auto q2 = query(0x1111, "www.example.org");
  auto up2 = f.on_query(q2, client, 1000);
  REQUIRE(up2);
  CHECK(*up2 == *Endpoint::parse("192.0.2.53:53"));

  auto reply = q;
  reply[2] |= 0x80;
  // from the wrong server: dropped
  CHECK_FALSE(f.on_reply(reply, *up2, 1001));
  auto back = f.on_reply(reply, *up, 1001);
  REQUIRE(back);
  CHECK(*back == client);
  CHECK(dns_id(reply) == 0xabcd);
  CHECK_FALSE(f.on_reply(reply, *up, 1002));   // answered once only
  CHECK(f.stats().to_tunnel == 1);
  CHECK(f.stats().to_original == 1);
  CHECK(f.stats().answers == 1);
}

TEST_CASE("forwarder: expiry, bounds and malformed input", "[forwarder]") {
  uint32_t n = 1;
  auto f = make(&n);
  Endpoint client = *Endpoint::parse("127.0.0.1:40000");
  auto q = query(1, "a.corp.example");
  auto up = f.on_query(q, client, 0);
  REQUIRE(up);
  auto reply = q;
  reply[2] |= 0x80;
  CHECK_FALSE(f.on_reply(reply, *up, ForwarderCore::kTimeoutMs + 1));   // too late
  std::vector<uint8_t> junk = {1, 2, 3};
  CHECK_FALSE(f.on_query(junk, client, 0));
  CHECK(f.stats().dropped_malformed == 1);
  uint32_t seq = 0;
  ForwarderCore g({"x"}, {*IpAddr::parse("10.99.0.1")}, {}, [&seq] { return seq++; });
  for (size_t i = 0; i < ForwarderCore::kMaxPending; ++i) {
    auto qi = query(uint16_t(i), "h.x");
    REQUIRE(g.on_query(qi, client, 0));
  }
  auto over = query(9, "h.x");
  CHECK_FALSE(g.on_query(over, client, 0));
  CHECK(g.stats().dropped_full == 1);
  CHECK(g.on_query(over, client, ForwarderCore::kTimeoutMs));   // expired entries make room
  auto other = query(9, "not.matching");
  CHECK_FALSE(g.on_query(other, client, 0));                       // no original resolver known
}
