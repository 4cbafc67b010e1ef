// The server's peer state (server/peer_table.hpp): sessions, leases, routes, anti-spoofing and
// next hop, driven through the same events the Server feeds it. No sockets, no root.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>

#include "proto/rekey.hpp"
#include "server/peer_table.hpp"

using namespace ptun;
using namespace ptun::server;

namespace {

IpAddr ip(const char* s) { return *IpAddr::parse(s); }
Cidr net(const char* s) { return *Cidr::parse(s); }

PeerTable table() { return PeerTable(net("10.99.0.0/24"), net("fd00:99::/64")); }

// What the Server does in authorize(): lease, close the peer's older session, register.
uint64_t connect(PeerTable& t, uint64_t session, const std::string& name, int64_t now_s,
                 std::vector<Cidr> behind = {}) {
  auto l = t.lease(name, now_s);
  REQUIRE(l);
  if (auto old = t.session_of(name); old && *old != session) t.remove(*old, now_s);
  Peer p;
  p.name = name;
  p.lease = *l;
  p.routes_behind = std::move(behind);
  t.add(session, std::move(p));
  return session;
}

}  // namespace

TEST_CASE("peer table: leases, lookup, anti-spoofing and next hop", "[server][peer_table]") {
  auto t = table();
  CHECK(t.server_v4()->str() == "10.99.0.1/24");
  CHECK(t.server_v6()->str() == "fd00:99::1/64");
  connect(t, 0x11, "alice", 100);
  connect(t, 0x22, "bob", 100, {net("192.168.50.0/24")});
  REQUIRE(t.find(0x11));
  CHECK(t.find(0x11)->lease.ipv4 == ip("10.99.0.2"));
  CHECK(t.find(0x11)->lease.ipv6 == ip("fd00:99::2"));
  CHECK(t.find(0x22)->lease.ipv4 == ip("10.99.0.3"));
  CHECK(t.size() == 2);
  CHECK(t.session_of("bob") == 0x22u);
  CHECK_FALSE(t.session_of("carol"));

  // Forwarding table: host addresses and the network behind bob.
  CHECK(t.lookup(ip("10.99.0.2")) == 0x11);
  CHECK(t.lookup(ip("fd00:99::3")) == 0x22);
  CHECK(t.lookup(ip("192.168.50.7")) == 0x22);
  CHECK(t.lookup(ip("10.99.0.1")) == 0);  // the server itself
  CHECK(t.lookup(ip("8.8.8.8")) == 0);

  // Anti-spoofing: a session sends only from its own addresses (and bob from his network).
  struct Src { uint64_t session; const char* src; bool allowed; };
  for (auto c : {Src{0x11, "10.99.0.2", true}, Src{0x11, "fd00:99::2", true}, Src{0x11, "10.99.0.3", false},
                 Src{0x11, "192.168.50.7", false}, Src{0x11, "10.99.0.1", false}, Src{0x11, "10.99.0.77", false},
                 Src{0x11, "8.8.8.8", false}, Src{0x22, "192.168.50.7", true}, Src{0x22, "10.99.0.3", true},
                 Src{0x33, "10.99.0.2", false}}) {
    INFO(c.session << " " << c.src);
    CHECK(t.source_allowed(c.session, ip(c.src)) == c.allowed);
  }

  // Next hop: another session (client to client), the host (0), or refused when turned off.
  CHECK(t.next_hop(0x11, ip("10.99.0.3"), true) == 0x22);
  CHECK(t.next_hop(0x11, ip("192.168.50.9"), true) == 0x22);
  CHECK(t.next_hop(0x11, ip("10.99.0.3"), false) == PeerTable::kRefused);
  CHECK(t.next_hop(0x11, ip("10.99.0.2"), false) == 0);  // to itself: the host's business
  CHECK(t.next_hop(0x11, ip("1.1.1.1"), false) == 0);
  CHECK(t.next_hop(0x22, ip("10.99.0.1"), true) == 0);
}

TEST_CASE("peer table: a session's end removes its routes, keeps its lease", "[server][peer_table]") {
  auto t = table();
  connect(t, 0x11, "alice", 100);
  t.set_endpoint(0x11, *Endpoint::parse("198.18.0.1:5000"));
  CHECK(t.find(0x11)->endpoint.str() == "198.18.0.1:5000");
  auto gone = t.remove(0x11, 200);
  REQUIRE(gone);
  CHECK(gone->name == "alice");
  CHECK_FALSE(t.find(0x11));
  CHECK_FALSE(t.remove(0x11, 200));
  CHECK(t.lookup(ip("10.99.0.2")) == 0);
  CHECK_FALSE(t.source_allowed(0x11, ip("10.99.0.2")));
  CHECK_FALSE(t.session_of("alice"));
  // The lease is sticky and ages from the session's end.
  REQUIRE(t.leases().count("alice"));
  CHECK(t.leases().at("alice").last_seen == 200);
  connect(t, 0x12, "alice", 300);
  CHECK(t.find(0x12)->lease.ipv4 == ip("10.99.0.2"));
}

TEST_CASE("peer table: a reconnecting peer takes over its addresses, the old session's end keeps them",
          "[server][peer_table]") {
  auto t = table();
  connect(t, 0x11, "alice", 100, {net("192.168.1.0/24")});
  // The device reconnects with a new session before the old one ended (the Server kicks it).
  auto l = t.lease("alice", 110);
  REQUIRE(l);
  CHECK(l->ipv4 == ip("10.99.0.2"));
  Peer p;
  p.name = "alice";
  p.lease = *l;
  p.routes_behind = {net("192.168.1.0/24")};
  t.add(0x12, p);  // registered before the old one is gone
  CHECK(t.session_of("alice") == 0x12u);
  CHECK(t.lookup(ip("10.99.0.2")) == 0x12);
  // The old session ends afterwards: the new one keeps everything.
  t.remove(0x11, 120);
  CHECK(t.session_of("alice") == 0x12u);
  CHECK(t.lookup(ip("10.99.0.2")) == 0x12);
  CHECK(t.lookup(ip("fd00:99::2")) == 0x12);
  CHECK(t.lookup(ip("192.168.1.5")) == 0x12);
  CHECK(t.source_allowed(0x12, ip("192.168.1.5")));
  CHECK_FALSE(t.source_allowed(0x11, ip("10.99.0.2")));
  CHECK(t.size() == 1);
}

TEST_CASE("peer table: expiry frees leases of absent peers only, when the pool runs out", "[server][peer_table]") {
  PeerTable t(net("10.0.0.0/29"), std::nullopt);  // hosts .2 .. .6 for peers (.1 is the server)
  t.set_expiry(3600);
  for (int i = 0; i < 5; ++i) connect(t, 0x100 + uint64_t(i), "p" + std::to_string(i), 1000);
  auto full = t.lease("late", 1000);
  REQUIRE_FALSE(full);
  CHECK(full.error().code == Errc::limit);
  // p0 and p1 leave; p1 comes back later so only p0's lease is old enough.
  t.remove(0x100, 1000);
  t.remove(0x101, 1000);
  CHECK(t.expire(2000).empty());            // not old enough yet
  connect(t, 0x201, "p1", 4000);
  auto l = t.lease("late", 1000 + 3600);     // p0 unseen for an hour: its lease goes
  REQUIRE(l);
  CHECK(l->ipv4 == ip("10.0.0.2"));
  CHECK_FALSE(t.leases().count("p0"));
  // Connected peers never lose their lease, however old.
  CHECK(t.expire(1'000'000) == std::vector<std::string>{"late"});  // no session: it goes
  for (int i = 1; i < 5; ++i) CHECK(t.leases().count("p" + std::to_string(i)));
}

TEST_CASE("peer table: static addresses are reserved for their peer", "[server][peer_table]") {
  auto t = table();
  REQUIRE(t.reserve_static("gw", Lease{ip("10.99.0.2"), std::nullopt}));
  CHECK_FALSE(t.reserve_static("other", Lease{ip("10.99.0.2"), std::nullopt}));
  connect(t, 0x11, "alice", 100);
  CHECK(t.find(0x11)->lease.ipv4 == ip("10.99.0.3"));  // .2 is gw's
  connect(t, 0x22, "gw", 100);
  CHECK(t.find(0x22)->lease.ipv4 == ip("10.99.0.2"));
  CHECK(t.find(0x22)->lease.ipv6);                      // a dynamic one in the other family
  // Restored leases that collide with a static address are ignored.
  PeerTable u(net("10.99.0.0/24"), std::nullopt);
  REQUIRE(u.reserve_static("gw", Lease{ip("10.99.0.2"), std::nullopt}));
  u.restore({{"thief", Lease{ip("10.99.0.2"), std::nullopt, 5}}, {"kept", Lease{ip("10.99.0.9"), std::nullopt, 5}}}, 10);
  CHECK_FALSE(u.leases().count("thief"));
  REQUIRE(u.leases().count("kept"));
  connect(u, 0x33, "kept", 20);
  CHECK(u.find(0x33)->lease.ipv4 == ip("10.99.0.9"));
}

// Random sessions coming and going, checked against a naive model of who owns what.
TEST_CASE("peer table: random churn agrees with a naive model", "[server][peer_table]") {
  auto t = table();
  std::mt19937 rng(7);
  std::map<std::string, uint64_t> live;  // peer -> session
  uint64_t next = 1;
  for (int step = 0; step < 2000; ++step) {
    std::string name = "p" + std::to_string(rng() % 12);
    if (rng() % 3 == 0) {
      if (auto it = live.find(name); it != live.end()) {
        t.remove(it->second, step);
        live.erase(it);
      }
    } else {
      uint64_t sid = next++;
      connect(t, sid, name, step);
      live[name] = sid;
    }
    // Model: exactly the live sessions are in the table, each owning its lease's addresses.
    REQUIRE(t.size() == live.size());
    for (const auto& [peer, sid] : live) {
      const Peer* p = t.find(sid);
      REQUIRE(p);
      CHECK(p->name == peer);
      CHECK(t.lookup(*p->lease.ipv4) == sid);
      CHECK(t.source_allowed(sid, *p->lease.ipv6));
      CHECK(t.session_of(peer) == sid);
    }
  }
}

TEST_CASE("lease store: round trip, missing file, refused garbage", "[server][lease_store]") {
  char dir[] = "/tmp/ptun-leases-XXXXXX";
  REQUIRE(::mkdtemp(dir));
  std::string path = std::string(dir) + "/leases.json";
  LeaseStore store(path);
  auto empty = store.load();
  REQUIRE(empty);
  CHECK(empty->empty());
  std::map<std::string, Lease> leases = {{"alice", Lease{ip("10.99.0.2"), ip("fd00:99::2"), 1234}},
                                         {"bob", Lease{ip("10.99.0.3"), std::nullopt, 0}}};
  REQUIRE(store.save(leases));
  auto back = store.load();
  REQUIRE(back);
  CHECK(*back == leases);
  std::ofstream(path) << "[1, 2]";
  CHECK_FALSE(store.load());
  std::ofstream(path) << R"({"x": {"ipv4": "not an address"}, "y": 5})";
  auto partial = store.load();
  REQUIRE(partial);
  CHECK(partial->at("x") == Lease{});
  CHECK_FALSE(partial->count("y"));
  std::remove(path.c_str());
  std::remove((path + ".tmp").c_str());
  ::rmdir(dir);
}

TEST_CASE("peer table: a rekeyed session takes over the peer's addresses without a break", "[server][peer_table][rekey]") {
  // What Server::authorize does for CLIENT_HELLO rekey_of = the live session: same lease, the new
  // session registered while the old one lives on in its grace (proto::RekeyGrace), then removed.
  auto t = table();
  connect(t, 7, "laptop", 100, {net("192.168.7.0/24")});
  const auto v4 = t.find(7)->lease.ipv4;
  REQUIRE(v4);
  REQUIRE(proto::judge_rekey(7, *t.session_of("laptop"), 9) == proto::RekeyVerdict::adopt);
  auto l = t.lease("laptop", 101);
  REQUIRE(l);
  CHECK(l->ipv4 == v4);   // the peer's lease, unchanged
  Peer p;
  p.name = "laptop";
  p.lease = *l;
  p.routes_behind = {net("192.168.7.0/24")};
  t.add(9, std::move(p));
  proto::RekeyGrace grace;
  grace.adopt(7, 9, 5000);
  CHECK(t.lookup(*v4) == 9);   // traffic to the peer goes out on the new keys at once
  CHECK(t.lookup(ip("192.168.7.5")) == 9);
  CHECK(t.session_of("laptop") == 9u);
  CHECK(t.source_allowed(grace.resolve(7), *v4));   // the old session's packets still pass as the new one's
  CHECK(t.size() == 2);
  auto gone = t.remove(7, 102);   // the old session closes (CLOSE rekeyed or grace over)
  REQUIRE(gone);
  CHECK(grace.forget(7).empty());
  CHECK(t.lookup(*v4) == 9);
  CHECK(t.lookup(ip("192.168.7.5")) == 9);
  CHECK(t.session_of("laptop") == 9u);
  CHECK(t.source_allowed(9, *v4));
  CHECK(t.size() == 1);
}

TEST_CASE("peer table: configured peers by name, replaced whole on reload", "[server][peer_table]") {
  auto t = table();
  std::vector<config::PeerConfig> cfg(2);
  cfg[0].name = "alice";
  cfg[1].name = "bob";
  cfg[1].routes_behind = {net("192.168.7.0/24")};
  t.configure(cfg);
  REQUIRE(t.configured("bob"));
  CHECK(t.configured("bob")->routes_behind == std::vector<Cidr>{net("192.168.7.0/24")});
  CHECK(t.configured("alice") == &cfg[0]);
  CHECK_FALSE(t.configured("mallory"));
  std::vector<config::PeerConfig> reloaded(1);
  reloaded[0].name = "bob";
  t.configure(reloaded);   // alice was removed from the file
  CHECK_FALSE(t.configured("alice"));
  CHECK(t.configured("bob") == &reloaded[0]);
}
