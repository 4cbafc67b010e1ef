// PeerRoutes: forwarding lookups, anti-spoofing and the client-to-client decision.
#include <catch2/catch.hpp>

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
