// TunnelVision (CVE-2024-3661): which host routes beat the tunnel's (route_override.hpp) and the
// protect_routes layout that makes them lose (route_plan.hpp), checked against fib_sim.hpp.
#include <catch2/catch.hpp>

#include "fib_sim.hpp"
#include "netcfg/route_override.hpp"
#include "netcfg/route_plan.hpp"

using namespace ptun;
using namespace ptun::netcfg;
using fibsim::Verdict;

namespace {

constexpr int kTun = 9, kEth = 2;

Cidr C(const char* s) { return *Cidr::parse(s); }
IpAddr A(const char* s) { return *IpAddr::parse(s); }

netlink::Route host_route(const char* dst, const char* gw, uint8_t proto = RTPROT_BOOT) {
  netlink::Route r;
  r.dst = C(dst);
  r.ifindex = kEth;
  if (gw) r.gateway = A(gw);
  r.protocol = proto;
  return r;
}

// The LAN (the kernel's route for the host's address), its default route, and what a rogue
// DHCP server pushes with option 121: the /1 pair and a /32, and the same for IPv6.
std::vector<netlink::Route> host_with_rogue() {
  return {host_route("192.168.1.0/24", nullptr, RTPROT_KERNEL),
          host_route("0.0.0.0/0", "192.168.1.1", RTPROT_DHCP),
          host_route("0.0.0.0/1", "192.168.1.1", RTPROT_DHCP),
          host_route("128.0.0.0/1", "192.168.1.1", RTPROT_DHCP),
          host_route("203.0.113.7/32", "192.168.1.1", RTPROT_DHCP),
          host_route("::/1", "fe80::1", RTPROT_RA)};
}

RouteInputs full_tunnel() {
  RouteInputs in;
  in.server = A("198.18.0.2");
  in.tun_ifindex = kTun;
  in.included = {C("0.0.0.0/0"), C("::/0")};
  in.local_networks = {C("192.168.1.0/24")};
  return in;
}

std::vector<std::string> beaten(const RoutePlan& p, const std::vector<netlink::Route>& host) {
  std::vector<std::string> out;
  for (const auto& o : find_overrides(p, host, kTun)) out.push_back(o.route.dst.str() + ">" + o.tunnel.str());
  return out;
}

Verdict where(const RoutePlan& p, const std::vector<netlink::Route>& host, const char* dst, uint32_t mark = 0) {
  std::vector<netlink::Route> routes = host;
  routes.insert(routes.end(), p.routes.begin(), p.routes.end());
  return fibsim::route(routes, p.rules, A(dst), mark, kTun);
}

}  // namespace

TEST_CASE("full tunnel: a rogue /1 pair and /32 in main beat the default route in ptun's table", "[route_override]") {
  auto in = full_tunnel();
  auto p = plan_routes(in, {});
  REQUIRE(p);
  auto host = host_with_rogue();
  CHECK(where(*p, host, "8.8.8.8") == Verdict::other);   // the leak the detector must see
  CHECK(beaten(*p, host) == std::vector<std::string>{"0.0.0.0/1>0.0.0.0/0", "128.0.0.0/1>0.0.0.0/0",
                                                      "203.0.113.7/32>0.0.0.0/0", "::/1>::/0"});
  auto o = find_overrides(*p, host, kTun);
  REQUIRE(o.size() == 4);
  CHECK(describe(o[2]) == "203.0.113.7/32 via 192.168.1.1 dev #2 beats 0.0.0.0/0");
  SECTION("the host's own default, its LAN and ptun's routes never count") {
    auto plain = std::vector<netlink::Route>{host[0], host[1]};
    CHECK(find_overrides(*p, plain, kTun).empty());
    auto ours = host_route("0.0.0.0/1", "192.168.1.1", netlink::kPtunRouteProto);
    auto via_tun = host_route("128.0.0.0/1", nullptr);
    via_tun.ifindex = kTun;
    auto blackhole = host_route("203.0.113.0/24", nullptr);
    blackhole.type = RTN_BLACKHOLE;
    blackhole.ifindex = 0;
    CHECK(find_overrides(*p, {ours, via_tun, blackhole}, kTun).empty());
  }
}

TEST_CASE("protect_routes: the tunnel's table answers first, rogue routes lose, the LAN stays", "[route_override]") {
  auto in = full_tunnel();
  in.protect_routes = true;
  auto p = plan_routes(in, {});
  REQUIRE(p);
  auto host = host_with_rogue();
  CHECK(find_overrides(*p, host, kTun).empty());
  CHECK(where(*p, host, "8.8.8.8") == Verdict::tun);
  CHECK(where(*p, host, "203.0.113.7") == Verdict::tun);
  CHECK(where(*p, host, "2001:db8::1") == Verdict::tun);
  CHECK(where(*p, host, "192.168.1.7") == Verdict::other);              // connected: thrown from T
  CHECK(where(*p, host, "198.18.0.2", in.fwmark) == Verdict::other);    // ptun's own datagrams
  // One rule per family ahead of the suppress rule.
  int first = 0;
  for (const auto& r : p->rules)
    if (r.priority == in.rule_priority - 1 && r.invert && r.table == in.table) ++first;
  CHECK(first == 2);
}

TEST_CASE("split include: a more specific route inside an included prefix beats it, unless protected", "[route_override]") {
  RouteInputs in;
  in.server = A("198.18.0.2");
  in.tun_ifindex = kTun;
  in.included = {C("10.0.0.0/8")};
  in.excluded = {C("10.5.0.0/16")};
  in.local_networks = {C("192.168.1.0/24")};
  std::vector<OriginalPath> paths = {{A("10.5.0.0"), host_route("0.0.0.0/0", "192.168.1.1")}};
  auto p = plan_routes(in, paths);
  REQUIRE(p);
  std::vector<netlink::Route> host = {host_route("10.1.2.0/24", "192.168.1.1"),   // steals 10.1.2/24
                                      host_route("10.5.1.0/24", "192.168.1.1"),   // inside the excluded
                                      host_route("11.0.0.0/8", "192.168.1.1"),    // not the tunnel's
                                      host_route("10.0.0.0/8", "192.168.1.1")};   // same prefix: ours wins
  CHECK(beaten(*p, host) == std::vector<std::string>{"10.1.2.0/24>10.0.0.0/8"});
  in.protect_routes = true;
  auto q = plan_routes(in, paths);
  REQUIRE(q);
  CHECK(find_overrides(*q, host, kTun).empty());
  CHECK(where(*q, host, "10.1.2.3") == Verdict::tun);
  CHECK(where(*q, host, "10.5.1.1") == Verdict::other);   // excluded stays outside
  CHECK(where(*q, host, "11.1.1.1") == Verdict::other);
}

TEST_CASE("include_all_networks: main is not consulted (nothing beats it) unless the LAN is excluded", "[route_override]") {
  auto in = full_tunnel();
  in.include_all_networks = true;
  auto p = plan_routes(in, {});
  REQUIRE(p);
  auto host = host_with_rogue();
  CHECK(find_overrides(*p, host, kTun).empty());
  CHECK(where(*p, host, "8.8.8.8") == Verdict::tun);
  SECTION("exclude_local_networks: main wins again (the kill switch drops what would leak)") {
    in.exclude_local_networks = true;
    auto q = plan_routes(in, {});
    REQUIRE(q);
    CHECK(beaten(*q, host).size() == 4);
    in.protect_routes = true;
    auto r = plan_routes(in, {});
    REQUIRE(r);
    CHECK(find_overrides(*r, host, kTun).empty());
    CHECK(where(*r, host, "192.168.1.7") == Verdict::other);   // private LAN excluded: still outside
  }
}

TEST_CASE("protect_routes: no duplicate routes when a connected network is included or excluded", "[route_override]") {
  auto in = full_tunnel();
  in.protect_routes = true;
  in.included.push_back(C("192.168.1.0/24"));
  in.local_networks.push_back(C("172.16.0.0/12"));
  in.excluded = {C("172.16.0.0/12")};
  auto p = plan_routes(in, {{A("172.16.0.0"), host_route("0.0.0.0/0", "192.168.1.1")},
                            {A("198.18.0.2"), host_route("0.0.0.0/0", "192.168.1.1")}});
  REQUIRE(p);
  for (size_t i = 0; i < p->routes.size(); ++i)
    for (size_t j = i + 1; j < p->routes.size(); ++j)
      CHECK_FALSE((p->routes[i].dst == p->routes[j].dst && p->routes[i].table == p->routes[j].table));
  CHECK(where(*p, {}, "192.168.1.7") == Verdict::tun);   // included beats connected, as in main
}
