// PeerRoutes: forwarding lookups, anti-spoofing and the client-to-client decision.
#include <catch2/catch.hpp>

#include <random>

#include "server/peer_routes.hpp"

using namespace ptun;
using namespace ptun::server;

TEST_CASE("client-to-client packets follow [tunnel] client_to_client", "[server][routes]") {
  // Issue 19 item 5: with it off, a client's packet to another client is refused, not relayed.
  PeerRoutes r;
  r.add(11, {*IpAddr::parse("10.99.0.2")}, {});
  r.add(22, {*IpAddr::parse("10.99.0.3")}, {*Cidr::parse("192.168.50.0/24")});
  auto a = [](const char* s) { return *IpAddr::parse(s); };
  CHECK(r.next_hop(11, a("10.99.0.3"), true) == 22);
  CHECK(r.next_hop(11, a("192.168.50.7"), true) == 22);       // the network behind a peer too
  CHECK(r.next_hop(11, a("10.99.0.3"), false) == PeerRoutes::kRefused);
  CHECK(r.next_hop(11, a("192.168.50.7"), false) == PeerRoutes::kRefused);
  // Everything else goes to the host either way: the Internet, the server, the sender itself.
  for (bool c2c : {true, false}) {
    CHECK(r.next_hop(11, a("198.51.100.9"), c2c) == 0);
    CHECK(r.next_hop(11, a("10.99.0.1"), c2c) == 0);
    CHECK(r.next_hop(11, a("10.99.0.2"), c2c) == 0);
  }
  CHECK(r.source_allowed(22, a("192.168.50.7")));
  CHECK_FALSE(r.source_allowed(11, a("192.168.50.7")));
}

TEST_CASE("routes behind peers: the longest prefix wins, whatever the order they came in", "[server][routes]") {
  PeerRoutes r;
  auto a = [](const char* s) { return *IpAddr::parse(s); };
  auto n = [](const char* s) { return *Cidr::parse(s); };
  r.add(1, {}, {n("10.0.0.0/8")});
  r.add(3, {}, {n("10.1.2.0/24")});
  r.add(2, {}, {n("10.1.0.0/16"), n("fd00:1::/48")});
  r.add(4, {a("10.1.2.3")}, {});
  CHECK(r.lookup(a("10.200.0.1")) == 1);
  CHECK(r.lookup(a("10.1.9.9")) == 2);
  CHECK(r.lookup(a("10.1.2.9")) == 3);
  CHECK(r.lookup(a("10.1.2.3")) == 4);   // a host address before any network
  CHECK(r.lookup(a("fd00:1::7")) == 2);
  CHECK(r.lookup(a("fd00:2::7")) == 0);
  CHECK(r.lookup(a("11.0.0.1")) == 0);
  CHECK(r.source_allowed(3, a("10.1.2.9")));
  CHECK_FALSE(r.source_allowed(2, a("10.1.2.9")));   // inside its /16, but 3's /24 is more specific
  CHECK_FALSE(r.source_allowed(0, a("11.0.0.1")));   // nobody's address is nobody's to send
  r.remove(3);
  CHECK(r.lookup(a("10.1.2.9")) == 2);
  CHECK(r.networks() == 3);
}

TEST_CASE("routes: removing a session leaves what a newer one took over", "[server][routes]") {
  PeerRoutes r;
  auto a = [](const char* s) { return *IpAddr::parse(s); };
  auto n = [](const char* s) { return *Cidr::parse(s); };
  r.add(1, {a("10.99.0.2")}, {n("192.168.1.0/24"), n("192.168.2.0/24")});
  r.add(2, {a("10.99.0.2")}, {n("192.168.1.0/24")});   // the peer reconnected; its config lost a network
  r.remove(1);
  CHECK(r.lookup(a("10.99.0.2")) == 2);
  CHECK(r.lookup(a("192.168.1.1")) == 2);
  CHECK(r.lookup(a("192.168.2.1")) == 0);   // the old session's own network went with it
  r.remove(2);
  r.remove(2);   // twice: nothing left, nothing happens
  CHECK(r.size() == 0);
  CHECK(r.networks() == 0);
  CHECK(r.lookup(a("10.99.0.2")) == 0);
}

TEST_CASE("routes: random networks and churn agree with a longest-prefix scan", "[server][routes]") {
  std::mt19937 rng(17);
  PeerRoutes r;
  struct Entry {
    Cidr net;
    uint64_t session;
  };
  std::vector<Entry> model;   // newest last; a net registered again belongs to the newest
  auto naive = [&](const IpAddr& dst) {
    const Entry* best = nullptr;
    for (const auto& e : model)
      if (e.net.contains(dst) && (!best || e.net.prefix >= best->net.prefix)) best = &e;
    return best ? best->session : 0;
  };
  auto rand_v4 = [&] { return IpAddr::v4(uint32_t(0x0a000000u | (rng() & 0x00ffffffu))); };
  for (int step = 0; step < 3000; ++step) {
    uint64_t sid = 1 + rng() % 20;
    if (rng() % 4 == 0) {
      r.remove(sid);
      std::erase_if(model, [&](const Entry& e) { return e.session == sid; });
    } else {
      Cidr c = Cidr{rand_v4(), uint8_t(8 + rng() % 25)}.network();
      r.add(sid, {}, {c});
      std::erase_if(model, [&](const Entry& e) { return e.net == c; });
      model.push_back({c, sid});
    }
    for (int q = 0; q < 20; ++q) {
      IpAddr d = rand_v4();
      if (!model.empty() && q % 2) d = model[rng() % model.size()].net.addr;   // often inside one
      INFO("step " << step << " dst " << d.str());
      REQUIRE(r.lookup(d) == naive(d));
    }
  }
  CHECK(r.networks() == model.size());
}
