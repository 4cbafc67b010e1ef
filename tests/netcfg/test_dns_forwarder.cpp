#include <catch2/catch.hpp>

#include <cctype>
#include <set>

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

std::vector<uint8_t> answer_to(const std::vector<uint8_t>& q) {
  auto a = q;
  a[2] |= 0x80;
  a.insert(a.end(), {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3});  // one A record
  a[7] = 1;  // ANCOUNT
  return a;
}

}  // namespace

TEST_CASE("forwarder: matching names to the tunnel, others to the original resolver", "[forwarder]") {
  uint32_t n = 1;
  auto f = make(&n);
  Endpoint client = *Endpoint::parse("127.0.0.1:40000");
  auto q = query(0xabcd, "Host.CORP.example");
  auto fwd = f.on_query(q, client, 1000);
  REQUIRE(fwd);
  CHECK(fwd->upstream == *Endpoint::parse("10.99.0.1:53"));
  uint16_t wire_id = dns_id(q);
  CHECK(wire_id != 0xabcd);
  auto q2 = query(0x1111, "www.example.org");
  auto fwd2 = f.on_query(q2, client, 1000);
  REQUIRE(fwd2);
  CHECK(fwd2->upstream == *Endpoint::parse("192.0.2.53:53"));
  CHECK(fwd2->key != fwd->key);   // each query its own socket

  auto reply = answer_to(q);
  // from the wrong server, or on the other query's socket: dropped
  CHECK_FALSE(f.on_reply(reply, fwd->key, fwd2->upstream, 1001));
  CHECK_FALSE(f.on_reply(reply, fwd2->key, fwd2->upstream, 1001));
  auto back = f.on_reply(reply, fwd->key, fwd->upstream, 1001);
  REQUIRE(back);
  CHECK(*back == client);
  CHECK(dns_id(reply) == 0xabcd);
  auto again = answer_to(q);
  CHECK_FALSE(f.on_reply(again, fwd->key, fwd->upstream, 1002));   // answered once only
  CHECK(f.stats().to_tunnel == 1);
  CHECK(f.stats().to_original == 1);
  CHECK(f.stats().answers == 1);
  CHECK(f.pending() == 1);
}

TEST_CASE("forwarder: an answer counts only with the query's id and question", "[forwarder]") {
  uint32_t n = 1;
  auto f = make(&n);
  Endpoint client = *Endpoint::parse("127.0.0.1:40000");
  auto q = query(0x4242, "intra.corp.example");
  auto fwd = f.on_query(q, client, 0);
  REQUIRE(fwd);
  const uint16_t id = dns_id(q);

  struct Case {
    const char* what;
    std::vector<uint8_t> msg;
  };
  auto other_name = answer_to(query(id, "evil.corp.example"));
  auto other_type = answer_to(q);
  other_type[12 + 21] = 28;   // AAAA instead of A (the name is 20 bytes on the wire)
  auto other_class = answer_to(q);
  other_class[12 + 23] = 3;   // CH instead of IN
  auto other_id = answer_to(q);
  other_id[1] ^= 1;
  auto not_answer = q;        // QR clear
  auto no_question = answer_to(q);
  no_question[5] = 0;         // QDCOUNT 0
  auto truncated = answer_to(q);
  truncated.resize(20);
  std::vector<Case> bad = {{"another name", other_name}, {"another type", other_type},
                           {"another class", other_class}, {"another id", other_id},
                           {"a query, not an answer", not_answer}, {"no question", no_question},
                           {"cut in the name", truncated}};
  for (auto& c : bad) {
    INFO(c.what);
    CHECK_FALSE(f.on_reply(c.msg, fwd->key, fwd->upstream, 1));
    CHECK(f.pending() == 1);   // still waiting for the real answer
  }
  CHECK(f.stats().dropped_mismatch == 4);
  CHECK(f.stats().dropped_malformed == 3);

  auto upper = answer_to(q);  // the same name in other case (0x20 encoding) is the same question
  for (size_t i = 13; i < 18; ++i) upper[i] = uint8_t(std::toupper(upper[i]));
  auto back = f.on_reply(upper, fwd->key, fwd->upstream, 2);
  REQUIRE(back);
  CHECK(*back == client);
  CHECK(dns_id(upper) == 0x4242);
  CHECK(f.stats().answers == 1);
  CHECK(f.pending() == 0);
}

TEST_CASE("forwarder: expiry, bounds and malformed input", "[forwarder]") {
  uint32_t n = 1;
  auto f = make(&n);
  Endpoint client = *Endpoint::parse("127.0.0.1:40000");
  auto q = query(1, "a.corp.example");
  auto fwd = f.on_query(q, client, 0);
  REQUIRE(fwd);
  CHECK(f.next_deadline() == ForwarderCore::kTimeoutMs);
  auto reply = answer_to(q);
  CHECK_FALSE(f.on_reply(reply, fwd->key, fwd->upstream, ForwarderCore::kTimeoutMs + 1));   // too late
  std::vector<uint32_t> expired;
  f.expire(ForwarderCore::kTimeoutMs, &expired);
  CHECK(expired == std::vector<uint32_t>{fwd->key});
  CHECK(f.next_deadline() == UINT64_MAX);
  std::vector<uint8_t> junk = {1, 2, 3};
  CHECK_FALSE(f.on_query(junk, client, 0));
  CHECK(f.stats().dropped_malformed == 1);
  uint32_t seq = 0;
  ForwarderCore g({"x"}, {*IpAddr::parse("10.99.0.1")}, {}, [&seq] { return seq++; });
  std::set<uint32_t> keys;
  for (size_t i = 0; i < ForwarderCore::kMaxPending; ++i) {
    auto qi = query(uint16_t(i), "h.x");
    auto fi = g.on_query(qi, client, i);
    REQUIRE(fi);
    keys.insert(fi->key);
  }
  CHECK(keys.size() == ForwarderCore::kMaxPending);
  auto over = query(9, "h.x");
  CHECK_FALSE(g.on_query(over, client, 0));
  CHECK(g.stats().dropped_full == 1);
  expired.clear();
  g.expire(ForwarderCore::kTimeoutMs, &expired);   // only the first one is due
  CHECK(expired.size() == 1);
  CHECK(g.on_query(over, client, ForwarderCore::kTimeoutMs));   // expired entries make room
  auto fc = g.on_query(over, client, ForwarderCore::kTimeoutMs);
  CHECK_FALSE(fc);
  g.cancel(*keys.rbegin());
  CHECK(g.on_query(over, client, ForwarderCore::kTimeoutMs));   // a cancelled one too
  auto other = query(9, "not.matching");
  CHECK_FALSE(g.on_query(other, client, 0));                       // no original resolver known
}
