// The lease transactions against an in-memory etcd (fake_etcd.hpp): sticky addresses across
// servers, races that never give one address to two peers, release and the grace period.
#include <catch2/catch.hpp>

#include <set>

#include "cluster/alloc_plan.hpp"
#include "fake_etcd.hpp"

using namespace ptun;
using namespace ptun::cluster;
using ptun::cluster::test::FakeEtcd;

namespace {

AllocConfig server(const char* name) {
  AllocConfig c;
  c.prefix = "/ptun";
  c.server = name;
  c.v4_pool = *Cidr::parse("10.9.0.0/29");  // .1 the servers', .2 .. .6 for peers, .7 broadcast
  c.v6_pool = *Cidr::parse("fd09::/125");
  return c;
}

// One whole acquire against `db`, retrying lost races like ClusterLeases does.
Result<Claim> acquire(FakeEtcd& db, const AllocConfig& c, const std::string& cn, int64_t now = 100) {
  for (int i = 0; i < AllocPlan::kMaxAttempts; ++i) {
    auto cl = AllocPlan::decide(c, cn, db.apply(AllocPlan::read(c, cn)), now);
    if (!cl) return cl;
    if (db.apply(cl->commit).succeeded) return cl;
  }
  return Error(Errc::exists, "races");
}

IpAddr ip(const char* s) { return *IpAddr::parse(s); }

}  // namespace

TEST_CASE("a peer gets the same addresses from every server", "[cluster][alloc]") {
  FakeEtcd db;
  auto a = acquire(db, server("s1"), "laptop");
  REQUIRE(a.ok());
  CHECK(server("x").v4_pool->contains(*a->addrs.ipv4));
  CHECK(server("x").v6_pool->contains(*a->addrs.ipv6));
  auto b = acquire(db, server("s2"), "laptop");
  REQUIRE(b.ok());
  CHECK(b->addrs == a->addrs);
  CHECK(b->record.server == "s2");
  auto phone = acquire(db, server("s2"), "phone");
  REQUIRE(phone.ok());
  CHECK(phone->addrs.ipv4 != a->addrs.ipv4);
  CHECK(db.keys().at("/ptun/leases/" + a->addrs.ipv4->str()).value == "laptop");
  CHECK(db.keys().at("/ptun/leases/" + phone->addrs.ipv6->str()).value == "phone");
}

TEST_CASE("two servers racing for one pool never hand out an address twice", "[cluster][alloc]") {
  FakeEtcd db;
  AllocConfig s1 = server("s1"), s2 = server("s2");
  // A /30: one address for peers, so both read it as free before either commits.
  s1.v4_pool = s2.v4_pool = *Cidr::parse("10.9.0.0/30");
  s1.v6_pool.reset();
  s2.v6_pool.reset();
  auto r1 = db.apply(AllocPlan::read(s1, "a"));
  auto r2 = db.apply(AllocPlan::read(s2, "b"));
  auto c1 = AllocPlan::decide(s1, "a", r1, 100);
  auto c2 = AllocPlan::decide(s2, "b", r2, 100);
  REQUIRE(c1.ok());
  REQUIRE(c2.ok());
  CHECK(c1->addrs.ipv4 == c2->addrs.ipv4);
  CHECK(db.apply(c1->commit).succeeded);
  CHECK_FALSE(db.apply(c2->commit).succeeded);  // the compare on the lease key refuses it
  auto again = acquire(db, s2, "b");
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == Errc::limit);   // read again: the one address is a's now
  CHECK(db.keys().at("/ptun/leases/10.9.0.2").value == "a");
  // The same peer raced by two servers: one record, one set of addresses.
  s1 = server("s1");
  s2 = server("s2");
  auto p1 = AllocPlan::decide(s1, "c", db.apply(AllocPlan::read(s1, "c")), 100);
  auto p2 = AllocPlan::decide(s2, "c", db.apply(AllocPlan::read(s2, "c")), 100);
  CHECK(db.apply(p1->commit).succeeded);
  CHECK_FALSE(db.apply(p2->commit).succeeded);
}

TEST_CASE("interleaved allocations of many peers by three servers stay unique", "[cluster][alloc]") {
  FakeEtcd db;
  AllocConfig s[3] = {server("s1"), server("s2"), server("s3")};
  // A /27 filled to the last of its 29 addresses: the fuller it gets, the more they collide.
  for (auto& c : s) c.v4_pool = *Cidr::parse("10.9.0.0/27"), c.v6_pool.reset();
  // Each round: every server reads, then every server commits (worst-case interleaving).
  std::map<std::string, IpAddr> got;
  int next = 0, losses = 0;
  std::vector<std::string> pending[3];
  for (int round = 0; round < 200 && got.size() < 29; ++round) {
    std::optional<Claim> claims[3];
    for (int i = 0; i < 3; ++i) {
      if (pending[i].empty()) pending[i].push_back("peer" + std::to_string(next++));
      auto cl = AllocPlan::decide(s[i], pending[i].back(), db.apply(AllocPlan::read(s[i], pending[i].back())), 100);
      REQUIRE(cl.ok());
      claims[i] = *cl;
    }
    for (int i = 0; i < 3; ++i) {
      if (db.apply(claims[i]->commit).succeeded) {
        got[pending[i].back()] = *claims[i]->addrs.ipv4;
        pending[i].pop_back();
      } else {
        ++losses;
      }
    }
  }
  CHECK(got.size() == 29);
  CHECK(losses > 0);  // the interleaving did make them race
  std::set<IpAddr> unique;
  for (auto& [cn, a] : got) unique.insert(a);
  CHECK(unique.size() == got.size());
  for (const auto& [key, kv] : db.keys())
    if (key.rfind("/ptun/leases/", 0) == 0) CHECK(got.at(kv.value) == ip(key.substr(13).c_str()));
}

TEST_CASE("static addresses and the pool's bounds are never allocated, exhaustion is Errc::limit", "[cluster][alloc]") {
  FakeEtcd db;
  AllocConfig c = server("s1");
  c.v6_pool.reset();
  c.reserved = {ip("10.9.0.2"), ip("10.9.0.4")};
  std::set<IpAddr> seen;
  for (const char* n : {"a", "b", "c"}) {
    auto r = acquire(db, c, n);
    REQUIRE(r.ok());
    seen.insert(*r->addrs.ipv4);
  }
  CHECK(seen == std::set<IpAddr>{ip("10.9.0.3"), ip("10.9.0.5"), ip("10.9.0.6")});
  auto full = acquire(db, c, "d");
  REQUIRE_FALSE(full.ok());
  CHECK(full.error().code == Errc::limit);
}

TEST_CASE("a released peer keeps its addresses for the grace period, then they are free", "[cluster][alloc]") {
  FakeEtcd db;
  const AllocConfig s1 = server("s1"), s2 = server("s2");
  auto a = acquire(db, s1, "laptop");
  REQUIRE(a.ok());
  CHECK(db.apply(AllocPlan::release(s1, "laptop", a->record, 77, 200)).succeeded);
  const std::string v4key = "/ptun/leases/" + a->addrs.ipv4->str();
  CHECK(db.keys().at("/ptun/peers/laptop").lease == 77);
  CHECK(db.keys().at(v4key).lease == 77);
  // Back within the grace: same addresses, keys detached from the lease again.
  auto b = acquire(db, s2, "laptop");
  REQUIRE(b.ok());
  CHECK(b->addrs == a->addrs);
  CHECK(db.keys().at("/ptun/peers/laptop").lease == 0);
  CHECK(db.keys().at(v4key).lease == 0);
  // s1's late release (its old session ended after the peer moved to s2) changes nothing.
  CHECK_FALSE(db.apply(AllocPlan::release(s1, "laptop", a->record, 78, 210)).succeeded);
  db.expire_lease(78);
  CHECK(db.keys().count("/ptun/peers/laptop") == 1);
  // Released by s2 and the grace runs out: etcd drops the keys, the address is free again.
  CHECK(db.apply(AllocPlan::release(s2, "laptop", b->record, 79, 220)).succeeded);
  db.expire_lease(79);
  CHECK(db.keys().count("/ptun/peers/laptop") == 0);
  CHECK(db.keys().count("/ptun/leases/" + a->addrs.ipv4->str()) == 0);
  std::set<IpAddr> v4;
  for (const char* n : {"p1", "p2", "p3", "p4", "p5"}) {  // the /29's five addresses
    auto r = acquire(db, s1, n);
    REQUIRE(r.ok());
    v4.insert(*r->addrs.ipv4);
  }
  CHECK(v4.count(*a->addrs.ipv4) == 1);
}

TEST_CASE("a release racing a re-acquire of the same server in the same second loses", "[cluster][alloc]") {
  FakeEtcd db;
  const AllocConfig s1 = server("s1");
  auto first = AllocPlan::decide(s1, "laptop", db.apply(AllocPlan::read(s1, "laptop")), 100, {}, 1);
  REQUIRE(db.apply(first->commit).succeeded);
  // The peer reconnects (same second) before the release of its first session lands.
  auto second = AllocPlan::decide(s1, "laptop", db.apply(AllocPlan::read(s1, "laptop")), 100, {}, 2);
  REQUIRE(db.apply(second->commit).succeeded);
  CHECK_FALSE(db.apply(AllocPlan::release(s1, "laptop", first->record, 9, 100)).succeeded);
  CHECK(db.keys().at("/ptun/peers/laptop").lease == 0);   // still active, not under a grace lease
}

TEST_CASE("a record whose address another peer holds, or outside a changed pool, is reallocated", "[cluster][alloc]") {
  FakeEtcd db;
  AllocConfig c = server("s1");
  auto a = acquire(db, c, "laptop");
  REQUIRE(a.ok());
  // The pool changed: the old IPv4 lease key is deleted with the new record.
  c.v4_pool = *Cidr::parse("10.10.0.0/29");
  auto b = acquire(db, c, "laptop");
  REQUIRE(b.ok());
  CHECK(c.v4_pool->contains(*b->addrs.ipv4));
  CHECK(b->addrs.ipv6 == a->addrs.ipv6);
  CHECK(db.keys().count("/ptun/leases/" + a->addrs.ipv4->str()) == 0);
  // A lease key taken by someone else (hand-edited store): not reused.
  TxnRequest t;
  TxnOp put;
  put.put = PutRequest{"/ptun/leases/" + b->addrs.ipv4->str(), "intruder", 0};
  t.success.push_back(put);
  db.apply(t);
  auto d = acquire(db, c, "laptop");
  REQUIRE(d.ok());
  CHECK(d->addrs.ipv4 != b->addrs.ipv4);
  CHECK(db.keys().at("/ptun/leases/" + d->addrs.ipv4->str()).value == "laptop");
}

TEST_CASE("addresses claimed by this server's commits in flight are not chosen again", "[cluster][alloc]") {
  FakeEtcd db;
  AllocConfig c = server("s1");
  c.v6_pool.reset();
  std::set<IpAddr> in_flight;
  std::set<IpAddr> chosen;
  for (const char* n : {"a", "b", "c", "d", "e"}) {   // read all before any commit
    auto cl = AllocPlan::decide(c, n, db.apply(AllocPlan::read(c, n)), 100, in_flight);
    REQUIRE(cl.ok());
    in_flight.insert(*cl->addrs.ipv4);
    chosen.insert(*cl->addrs.ipv4);
  }
  CHECK(chosen.size() == 5);
  CHECK(AllocPlan::decide(c, "f", db.apply(AllocPlan::read(c, "f")), 100, in_flight).error().code == Errc::limit);
}

TEST_CASE("a pool's candidates are all reachable from every starting point", "[cluster][alloc]") {
  // A /28 filled by names whose hashes start anywhere: all 13 peer addresses handed out, never
  // .0, .1 (servers) or .15 (broadcast).
  FakeEtcd db;
  AllocConfig c = server("s1");
  c.v4_pool = *Cidr::parse("10.9.0.0/28");
  c.v6_pool.reset();
  std::set<IpAddr> got;
  for (int i = 0; i < 13; ++i) {
    auto r = acquire(db, c, "n" + std::to_string(i * 7919));
    REQUIRE(r.ok());
    got.insert(*r->addrs.ipv4);
  }
  CHECK(got.size() == 13);
  CHECK(!got.count(ip("10.9.0.0")));
  CHECK(!got.count(ip("10.9.0.1")));
  CHECK(!got.count(ip("10.9.0.15")));
  CHECK(acquire(db, c, "one-more").error().code == Errc::limit);
}

TEST_CASE("peer records round-trip and bad ones are errors", "[cluster][alloc]") {
  PeerRecord r{{ip("10.9.0.2"), ip("fd09::2")}, "s1", true, 1234, 0};
  CHECK(decode_peer_record(encode_peer_record(r)).value() == r);
  r.gen = 1ull << 63;
  CHECK(decode_peer_record(encode_peer_record(r)).value() == r);
  CHECK_FALSE(decode_peer_record(R"({"gen":-1})").ok());
  for (const char* bad : {"", "[]", R"({"ipv4":"fd09::2"})", R"({"ipv4":5})", R"({"active":"yes"})", R"({"at":"1"})"})
    CHECK_FALSE(decode_peer_record(bad).ok());
  // A garbage record is overwritten, not an error for the peer.
  FakeEtcd db;
  TxnRequest t;
  TxnOp put;
  put.put = PutRequest{"/ptun/peers/laptop", "garbage", 0};
  t.success.push_back(put);
  db.apply(t);
  auto a = acquire(db, server("s1"), "laptop");
  REQUIRE(a.ok());
  CHECK(db.keys().at("/ptun/leases/" + a->addrs.ipv4->str()).value == "laptop");
}
