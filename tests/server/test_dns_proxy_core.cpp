// The server's DNS proxy core: pool-only clients, id rewriting and answer matching, bounds,
// timeouts with failover between upstreams, TCP admission and framing, resolv.conf upstreams.
#include <catch2/catch.hpp>

#include "netcfg/dns_message.hpp"
#include "server/dns_proxy_core.hpp"

using namespace ptun;
using namespace ptun::server;

namespace {

std::vector<uint8_t> query(uint16_t id, const std::string& name, uint16_t qtype = 1) {
  std::vector<uint8_t> m = {uint8_t(id >> 8), uint8_t(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    m.push_back(uint8_t(dot - start));
    m.insert(m.end(), name.begin() + long(start), name.begin() + long(dot));
    start = dot + 1;
  }
  m.insert(m.end(), {0, uint8_t(qtype >> 8), uint8_t(qtype), 0, 1});
  return m;
}

// An answer to the query as it went upstream (its rewritten id), with one A record.
std::vector<uint8_t> answer_to(const std::vector<uint8_t>& q) {
  auto a = q;
  a[2] |= 0x80;
  a[7] = 1;  // ANCOUNT
  a.insert(a.end(), {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3});
  return a;
}

const IpAddr kUp1 = *IpAddr::parse("192.0.2.53"), kUp2 = *IpAddr::parse("198.51.100.53");
const Endpoint kUp1Ep{kUp1, 53}, kUp2Ep{kUp2, 53};
const Endpoint kClient = *Endpoint::parse("10.99.0.7:40000");
const Endpoint kClient6 = *Endpoint::parse("[fd99::7]:40000");

DnsProxyCore make(uint32_t* counter, std::vector<IpAddr> ups = {kUp1, kUp2}, DnsProxyLimits l = {}) {
  return DnsProxyCore({*Cidr::parse("10.99.0.0/24"), *Cidr::parse("fd99::/64")}, std::move(ups), l,
                      [counter] { return (*counter)++ * 7919u + 11; });
}

}  // namespace

TEST_CASE("dns proxy: a pool client's query goes upstream with a new id, the answer comes back", "[dnsproxy]") {
  uint32_t n = 1;
  auto p = make(&n);
  auto q = query(0xabcd, "www.example.com");
  auto s = p.on_query(q, kClient, 0, 1000);
  REQUIRE(s);
  CHECK(s->upstream == kUp1Ep);
  const uint16_t wire = netcfg::dns_id(q);
  CHECK(wire != 0xabcd);
  auto a = answer_to(q);
  auto r = p.on_reply(a, s->key, kUp1Ep, 1100);
  REQUIRE(r);
  CHECK(r->client == kClient);
  CHECK(r->conn == 0);
  CHECK(netcfg::dns_id(a) == 0xabcd);
  CHECK(p.pending() == 0);
  CHECK(p.stats().answers == 1);
  CHECK(p.stats().queries_udp == 1);
  // The same answer again: nothing pending any more.
  CHECK_FALSE(p.on_reply(a, s->key, kUp1Ep, 1100));
  CHECK(p.stats().answer_unknown == 1);
  // IPv6 clients of the v6 pool too; first attempts rotate over the upstreams.
  auto q6 = query(1, "example.org", 28);
  auto s6 = p.on_query(q6, kClient6, 0, 1200);
  REQUIRE(s6);
  CHECK(s6->upstream == kUp2Ep);
}

TEST_CASE("dns proxy: never an open resolver: sources outside the pools are dropped", "[dnsproxy]") {
  uint32_t n = 1;
  auto p = make(&n);
  for (const char* src : {"198.18.0.2:5353", "10.99.1.7:53", "127.0.0.1:999", "[fd98::1]:53", "[::1]:53"}) {
    auto q = query(7, "example.com");
    CHECK_FALSE(p.on_query(q, *Endpoint::parse(src), 0, 0));
  }
  CHECK(p.stats().dropped_not_pool == 5);
  CHECK_FALSE(p.tcp_admit(*IpAddr::parse("198.18.0.2")));
  CHECK(p.stats().dropped_not_pool == 6);
  CHECK(p.pending() == 0);
}

TEST_CASE("dns proxy: answers must come from the upstream with the id and question", "[dnsproxy]") {
  uint32_t n = 1;
  auto p = make(&n);
  auto q = query(0x1234, "host.example.com");
  auto s = p.on_query(q, kClient, 0, 0);
  REQUIRE(s);
  auto good = answer_to(q);
  auto from_other = good;
  CHECK_FALSE(p.on_reply(from_other, s->key, kUp2Ep, 10));        // another address
  CHECK_FALSE(p.on_reply(from_other, s->key, Endpoint{kUp1, 5353}, 10));  // another port
  CHECK(p.stats().answer_unknown == 2);
  auto wrong_id = good;
  netcfg::set_dns_id(wrong_id, uint16_t(netcfg::dns_id(good) + 1));
  CHECK_FALSE(p.on_reply(wrong_id, s->key, kUp1Ep, 10));
  auto other_name = answer_to(query(netcfg::dns_id(good), "evil.example.com"));
  CHECK_FALSE(p.on_reply(other_name, s->key, kUp1Ep, 10));
  auto other_type = answer_to(query(netcfg::dns_id(good), "host.example.com", 28));
  CHECK_FALSE(p.on_reply(other_type, s->key, kUp1Ep, 10));
  CHECK(p.stats().answer_mismatch == 3);
  std::vector<uint8_t> junk = {1, 2, 3};
  CHECK_FALSE(p.on_reply(junk, s->key, kUp1Ep, 10));
  CHECK(p.stats().answer_malformed == 1);
  CHECK(p.pending() == 1);  // still waiting for the real answer
  CHECK(p.on_reply(good, s->key, kUp1Ep, 10));
}

TEST_CASE("dns proxy: malformed queries and answers are dropped and counted", "[dnsproxy]") {
  uint32_t n = 1;
  auto p = make(&n);
  std::vector<uint8_t> short_msg = {0, 1, 2};
  CHECK_FALSE(p.on_query(short_msg, kClient, 0, 0));
  auto resp = answer_to(query(1, "a.example"));  // a response, not a query
  CHECK_FALSE(p.on_query(resp, kClient, 0, 0));
  CHECK(p.stats().dropped_malformed == 2);
}

TEST_CASE("dns proxy: bounded in total and per client", "[dnsproxy]") {
  uint32_t n = 1;
  DnsProxyLimits l;
  l.max_pending = 5;
  l.max_pending_per_client = 3;
  auto p = make(&n, {kUp1}, l);
  for (int i = 0; i < 3; ++i) {
    auto q = query(uint16_t(i), "a.example");
    REQUIRE(p.on_query(q, kClient, 0, 0));
  }
  auto q = query(9, "a.example");
  CHECK_FALSE(p.on_query(q, kClient, 0, 0));
  CHECK(p.stats().dropped_client_limit == 1);
  // Other clients still get in, up to the total.
  Endpoint b = *Endpoint::parse("10.99.0.8:1000"), c = *Endpoint::parse("10.99.0.9:1000");
  auto qb1 = query(1, "b.example"), qb2 = query(2, "b.example"), qc = query(3, "c.example");
  auto sb = p.on_query(qb1, b, 0, 0);
  REQUIRE(sb);
  REQUIRE(p.on_query(qb2, b, 0, 0));
  CHECK_FALSE(p.on_query(qc, c, 0, 0));
  CHECK(p.stats().dropped_full == 1);
  // An answer frees a slot.
  auto a = answer_to(qb1);
  REQUIRE(p.on_reply(a, sb->key, kUp1Ep, 1));
  auto qc2 = query(4, "c.example");
  CHECK(p.on_query(qc2, c, 0, 1));
}

TEST_CASE("dns proxy: a timed-out attempt moves to the next upstream, then gives up", "[dnsproxy]") {
  uint32_t n = 1;
  DnsProxyLimits l;
  l.attempt_timeout_ms = 1000;
  l.max_attempts = 3;
  auto p = make(&n, {kUp1, kUp2}, l);
  auto q = query(0x4242, "slow.example");
  auto s = p.on_query(q, kClient, 0, 0);
  REQUIRE(s);
  CHECK(s->upstream == kUp1Ep);
  CHECK(p.next_deadline() == 1000);
  std::vector<DnsProxyCore::Retry> retries;
  std::vector<uint32_t> gone;
  p.expire(999, &retries, &gone);
  CHECK(retries.empty());
  p.expire(1000, &retries, &gone);
  REQUIRE(retries.size() == 1);
  CHECK(retries[0].key == s->key);
  CHECK(retries[0].upstream == kUp2Ep);
  std::vector<uint8_t> resent(retries[0].msg.begin(), retries[0].msg.end());
  CHECK(netcfg::dns_id(resent) != netcfg::dns_id(q));  // a new id per attempt
  CHECK(p.upstream_failures(0) == 1);
  CHECK(p.stats().retries == 1);
  // The late answer of the first upstream is not taken any more.
  auto late = answer_to(q);
  CHECK_FALSE(p.on_reply(late, s->key, kUp1Ep, 1500));
  // The second upstream's answer to the resent query is.
  auto a = answer_to(resent);
  auto r = p.on_reply(a, s->key, kUp2Ep, 1500);
  REQUIRE(r);
  CHECK(netcfg::dns_id(a) == 0x4242);
  CHECK(p.upstream_failures(1) == 0);

  // A query nobody answers: 3 attempts, then gone.
  auto q2 = query(5, "dead.example");
  auto s2 = p.on_query(q2, kClient, 0, 2000);
  REQUIRE(s2);
  retries.clear();
  p.expire(3000, &retries, &gone);
  p.expire(4000, &retries, &gone);
  CHECK(retries.size() == 2);
  CHECK(gone.empty());
  p.expire(5000, &retries, &gone);
  CHECK(gone == std::vector<uint32_t>{s2->key});
  CHECK(p.stats().timeouts == 1);
  CHECK(p.pending() == 0);
  CHECK(p.next_deadline() == UINT64_MAX);
}

TEST_CASE("dns proxy: a refused attempt moves on at the next expire, not at its deadline", "[dnsproxy]") {
  uint32_t n = 1;
  auto p = make(&n);
  auto q = query(3, "a.example");
  auto s = p.on_query(q, kClient, 0, 100);
  REQUIRE(s);
  CHECK(p.next_deadline() == 2100);
  p.refused(s->key, 150);
  CHECK(p.next_deadline() == 150);
  std::vector<DnsProxyCore::Retry> retries;
  std::vector<uint32_t> gone;
  p.expire(150, &retries, &gone);
  REQUIRE(retries.size() == 1);
  CHECK(retries[0].upstream == kUp2Ep);
  p.refused(999, 150);  // unknown keys are ignored
}

TEST_CASE("dns proxy: an upstream that keeps timing out is skipped while another answers", "[dnsproxy]") {
  uint32_t n = 1;
  DnsProxyLimits l;
  l.attempt_timeout_ms = 100;
  l.max_attempts = 1;
  l.down_after = 2;
  auto p = make(&n, {kUp1, kUp2}, l);
  std::vector<DnsProxyCore::Retry> retries;
  std::vector<uint32_t> gone;
  uint64_t t = 0;
  // kUp1 never answers, kUp2 always does.
  int to_up1 = 0;
  for (int i = 0; i < 10; ++i, t += 200) {
    auto q = query(uint16_t(i), "x.example");
    auto s = p.on_query(q, kClient, 0, t);
    REQUIRE(s);
    if (s->upstream == kUp1Ep) {
      ++to_up1;
    } else {
      auto a = answer_to(q);
      REQUIRE(p.on_reply(a, s->key, kUp2Ep, t + 1));
    }
    p.expire(t + 150, &retries, &gone);
  }
  CHECK(to_up1 == 2);  // then it counts as down
  CHECK(p.upstream_failures(0) == 2);
  // down_ms later it gets a query again (rotation resumes with it).
  t += l.down_ms;
  bool tried = false;
  for (int i = 0; i < 2; ++i) {
    auto q = query(uint16_t(100 + i), "x.example");
    auto s = p.on_query(q, kClient, 0, t);
    REQUIRE(s);
    tried = s->upstream == kUp1Ep;
    if (tried) break;
    auto a = answer_to(q);
    REQUIRE(p.on_reply(a, s->key, kUp2Ep, t + 1));
  }
  CHECK(tried);
  // A reload forgets the health.
  p.set_upstreams({kUp1, kUp2});
  CHECK(p.upstream_failures(0) == 0);
}

TEST_CASE("dns proxy: no upstream configured drops and counts", "[dnsproxy]") {
  uint32_t n = 1;
  auto p = make(&n, {});
  auto q = query(1, "a.example");
  CHECK_FALSE(p.on_query(q, kClient, 0, 0));
  CHECK(p.stats().dropped_no_upstream == 1);
}

TEST_CASE("dns proxy: TCP clients are admitted from the pools under bounds", "[dnsproxy]") {
  uint32_t n = 1;
  DnsProxyLimits l;
  l.max_tcp_clients = 3;
  l.max_tcp_per_client = 2;
  auto p = make(&n, {kUp1}, l);
  IpAddr a = *IpAddr::parse("10.99.0.7"), b = *IpAddr::parse("fd99::8");
  CHECK(p.tcp_admit(a));
  CHECK(p.tcp_admit(a));
  CHECK_FALSE(p.tcp_admit(a));
  CHECK(p.tcp_admit(b));
  CHECK_FALSE(p.tcp_admit(*IpAddr::parse("10.99.0.9")));  // total
  CHECK(p.stats().tcp_refused == 2);
  p.tcp_release(a);
  CHECK(p.tcp_admit(*IpAddr::parse("10.99.0.9")));
  // A TCP client's queries carry its connection id and are forgotten when it leaves.
  auto q1 = query(1, "a.example"), q2 = query(2, "b.example");
  auto s1 = p.on_query(q1, Endpoint{a, 1000}, 42, 0);
  auto s2 = p.on_query(q2, Endpoint{a, 1000}, 42, 0);
  REQUIRE(s1);
  REQUIRE(s2);
  CHECK(p.stats().queries_tcp == 2);
  std::vector<uint32_t> keys;
  p.cancel_conn(42, &keys);
  CHECK(keys.size() == 2);
  CHECK(p.pending() == 0);
}

TEST_CASE("dns proxy: TCP framing splits, joins and bounds messages", "[dnsproxy]") {
  TcpFramer f(512);
  auto m1 = query(1, "a.example"), m2 = query(2, "bb.example");
  auto f1 = tcp_frame(m1), f2 = tcp_frame(m2);
  std::vector<uint8_t> stream(f1);
  stream.insert(stream.end(), f2.begin(), f2.end());
  // Byte by byte: a message appears only when complete.
  size_t got = 0;
  for (uint8_t b : stream) {
    REQUIRE(f.feed({&b, 1}));
    while (auto m = f.next()) {
      CHECK(*m == (got == 0 ? m1 : m2));
      ++got;
    }
  }
  CHECK(got == 2);
  // Two frames in one read.
  TcpFramer g(512);
  REQUIRE(g.feed(stream));
  CHECK(g.next() == m1);
  CHECK(g.next() == m2);
  CHECK_FALSE(g.next());
  // An announced length over the bound (in any frame) or of 0 is refused.
  TcpFramer h(512);
  std::vector<uint8_t> big = f1;
  big.insert(big.end(), {0x02, 0x01});
  CHECK_FALSE(h.feed(big));
  TcpFramer z(512);
  std::vector<uint8_t> zero = {0, 0};
  CHECK_FALSE(z.feed(zero));
}

TEST_CASE("dns proxy: upstreams from resolv.conf skip the server's own addresses", "[dnsproxy]") {
  const char* text =
      "# generated\nsearch corp.example\nnameserver 10.99.0.1\nnameserver 127.0.0.53\n"
      "nameserver 2620:fe::fe\nnameserver 127.0.0.53\noptions edns0\nnameserver fd99::1\n";
  auto ups = resolv_conf_upstreams(text, {*IpAddr::parse("10.99.0.1"), *IpAddr::parse("fd99::1")});
  REQUIRE(ups.size() == 2);
  CHECK(ups[0] == *IpAddr::parse("127.0.0.53"));
  CHECK(ups[1] == *IpAddr::parse("2620:fe::fe"));
  CHECK(resolv_conf_upstreams("", {}).empty());
}
