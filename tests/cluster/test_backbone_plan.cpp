// Backbone routes toward the other servers' clients (issue 18 item 3): which routes a server
// wants from the peer and server records, and the changes from what is installed.
#include <catch2/catch.hpp>

#include "cluster/backbone_plan.hpp"

using namespace ptun;
using namespace ptun::cluster;

namespace {

IpAddr ip(const char* s) { return *IpAddr::parse(s); }
BackboneRoute route(const char* dst, const char* via) {
  auto a = ip(dst);
  return {Cidr{a, uint8_t(a.is_v4() ? 32 : 128)}, ip(via)};
}
PeerRecord peer(const char* server, const char* v4, const char* v6 = nullptr, bool active = true) {
  PeerRecord r;
  r.server = server;
  r.active = active;
  if (v4) r.addrs.ipv4 = ip(v4);
  if (v6) r.addrs.ipv6 = ip(v6);
  return r;
}
ServerRecord bb(const char* v4, const char* v6 = nullptr) {
  ServerRecord s;
  if (v4) s.backbone_v4 = ip(v4);
  if (v6) s.backbone_v6 = ip(v6);
  return s;
}

}  // namespace

TEST_CASE("backbone: routes for the active peers of the other live servers", "[cluster][backbone]") {
  std::map<std::string, ServerRecord> servers{{"s1", bb("198.18.2.11", "fd02::11")},
                                              {"s2", bb("198.18.2.12", "fd02::12")},
                                              {"s3", bb("198.18.2.13")}};
  std::map<std::string, PeerRecord> peers{
      {"mine", peer("s1", "10.99.0.5", "fd99::5")},               // held by us: no route
      {"on-s2", peer("s2", "10.99.0.6", "fd99::6")},              // both families via s2
      {"on-s3", peer("s3", "10.99.0.7", "fd99::7")},              // s3 has no IPv6 backbone
      {"released", peer("s2", "10.99.0.8", nullptr, false)},      // grace period: no route
      {"dead-server", peer("s4", "10.99.0.9")}};                  // s4 has no record: no route
  auto want = plan_backbone_routes("s1", peers, servers);
  std::set<BackboneRoute> expect{route("10.99.0.6", "198.18.2.12"), route("fd99::6", "fd02::12"),
                                 route("10.99.0.7", "198.18.2.13")};
  CHECK(want == expect);

  // Seen from s2, the peer of s1 is routed to s1 and its own is not.
  auto from_s2 = plan_backbone_routes("s2", peers, servers);
  CHECK(from_s2.count(route("10.99.0.5", "198.18.2.11")) == 1);
  CHECK(from_s2.count(route("fd99::5", "fd02::11")) == 1);
  CHECK(from_s2.count(route("10.99.0.6", "198.18.2.12")) == 0);

  // An address this server serves itself is never routed away, whatever a stale record says.
  auto guarded = plan_backbone_routes("s1", peers, servers, [](const IpAddr& a) { return a == ip("10.99.0.6"); });
  CHECK(guarded.count(route("10.99.0.6", "198.18.2.12")) == 0);
  CHECK(guarded.count(route("fd99::6", "fd02::12")) == 1);
}

TEST_CASE("backbone: changes replace a moved peer's route and remove a dead server's", "[cluster][backbone]") {
  std::set<BackboneRoute> installed{route("10.99.0.6", "198.18.2.12"), route("10.99.0.7", "198.18.2.13")};
  // The peer on s2 moved to s3; s3's other peer is unchanged; a new peer appeared on s2.
  std::set<BackboneRoute> wanted{route("10.99.0.6", "198.18.2.13"), route("10.99.0.7", "198.18.2.13"),
                                 route("10.99.0.10", "198.18.2.12")};
  auto c = diff_routes(installed, wanted);
  CHECK(c.remove == std::vector<BackboneRoute>{route("10.99.0.6", "198.18.2.12")});
  CHECK(c.add == std::vector<BackboneRoute>{route("10.99.0.6", "198.18.2.13"), route("10.99.0.10", "198.18.2.12")});
  // Nothing wanted any more (every other server gone): everything goes.
  auto gone = diff_routes(wanted, {});
  CHECK(gone.remove.size() == 3);
  CHECK(gone.add.empty());
  CHECK(diff_routes(wanted, wanted).add.empty());
  CHECK(diff_routes(wanted, wanted).remove.empty());
}

TEST_CASE("backbone: records from one etcd read, bad ones skipped and counted", "[cluster][backbone]") {
  std::vector<KeyValue> kvs;
  auto kv = [&](std::string k, std::string v) { kvs.push_back(KeyValue{std::move(k), std::move(v), 1, 1, 1, 0}); };
  kv("/ptun/peers/alice", encode_peer_record(peer("s2", "10.99.0.6")));
  kv("/ptun/peers/bob", "{not json");
  kv("/ptun/servers/s2", encode_server_record(bb("198.18.2.12", "fd02::12")));
  kv("/ptun/servers/s3", R"({"backbone_v4":"fd02::13"})");   // wrong family
  kv("/ptun/leases/10.99.0.6", "alice");                      // not ours to read here
  kv("/ptun/servers/", "{}");                                 // empty name
  std::map<std::string, PeerRecord> peers;
  std::map<std::string, ServerRecord> servers;
  uint64_t bad = 0;
  collect_records("/ptun", kvs, &peers, &servers, &bad);
  CHECK(bad == 2);
  REQUIRE(peers.size() == 1);
  CHECK(peers.at("alice").server == "s2");
  REQUIRE(servers.size() == 1);
  CHECK(servers.at("s2") == bb("198.18.2.12", "fd02::12"));
  CHECK(decode_server_record(encode_server_record(bb(nullptr, "fd02::1"))).value() == bb(nullptr, "fd02::1"));
  CHECK(!decode_server_record("[]"));
}
