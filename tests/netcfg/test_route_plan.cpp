#include <catch2/catch.hpp>

#include <random>

#include "fib_sim.hpp"
#include "netcfg/route_plan.hpp"

using namespace ptun;
using namespace ptun::netcfg;
using fibsim::Verdict;

namespace {

constexpr int kTun = 9, kEth = 2;

Cidr C(const char* s) { return *Cidr::parse(s); }
IpAddr A(const char* s) { return *IpAddr::parse(s); }

RouteInputs base() {
  RouteInputs in;
  in.server = A("198.18.0.2");
  in.tun_ifindex = kTun;
  return in;
}

// The host's main table: a LAN, a default via the LAN's router, both families.
std::vector<netlink::Route> host_routes() {
  std::vector<netlink::Route> v;
  netlink::Route lan;
  lan.dst = C("192.168.1.0/24");
  lan.ifindex = kEth;
  v.push_back(lan);
  netlink::Route def;
  def.dst = C("0.0.0.0/0");
  def.ifindex = kEth;
  def.gateway = A("192.168.1.1");
  v.push_back(def);
  netlink::Route def6 = def;
  def6.dst = C("::/0");
  def6.gateway = A("fe80::1");
  v.push_back(def6);
  return v;
}

Verdict where(const RoutePlan& p, const char* dst, uint32_t mark = 0) {
  auto routes = host_routes();
  routes.insert(routes.end(), p.routes.begin(), p.routes.end());
  return fibsim::route(routes, p.rules, A(dst), mark, kTun);
}

std::vector<OriginalPath> original_paths(const RouteInputs& in) {
  std::vector<OriginalPath> out;
  for (const auto& a : needed_paths(in)) {
    auto r = fibsim::lookup(host_routes(), RT_TABLE_MAIN, a);
    if (r) out.push_back(OriginalPath{a, *r});
  }
  return out;
}

}  // namespace

TEST_CASE("full tunnel, dual stack: defaults in ptun's table, wg-quick rules", "[route_plan]") {
  auto in = base();
  in.included = {C("0.0.0.0/0"), C("::/0")};
  auto p = plan_routes(in, {});
  REQUIRE(p);
  REQUIRE(p->routes.size() == 2);
  for (const auto& r : p->routes) {
    CHECK(r.table == in.table);
    CHECK(r.ifindex == kTun);
  }
  REQUIRE(p->rules.size() == 4);
  CHECK(p->rules[0].suppress_prefixlen == 0);
  CHECK(p->rules[0].table == RT_TABLE_MAIN);
  CHECK(p->rules[1].invert);
  CHECK(p->rules[1].fwmark == in.fwmark);
  CHECK(p->rules[1].table == in.table);
  CHECK(where(*p, "8.8.8.8") == Verdict::tun);
  CHECK(where(*p, "2001:db8::1") == Verdict::tun);
  CHECK(where(*p, "192.168.1.7") == Verdict::other);           // the LAN keeps precedence
  CHECK(where(*p, "198.18.0.2", in.fwmark) == Verdict::other);  // ptun's own datagrams
}

TEST_CASE("v4-only tunnel: ::/0 becomes unreachable (no IPv6 leak)", "[route_plan]") {
  auto in = base();
  in.included = {C("0.0.0.0/0"), C("::/0")};
  in.tunnel_v6 = false;
  auto p = plan_routes(in, {});
  REQUIRE(p);
  CHECK(where(*p, "8.8.8.8") == Verdict::tun);
  CHECK(where(*p, "2001:db8::1") == Verdict::unreachable);
}

TEST_CASE("include_all_networks: every family defaults into the tunnel, the LAN too", "[route_plan]") {
  auto in = base();
  in.include_all_networks = true;
  in.tunnel_v6 = false;
  auto p = plan_routes(in, {});
  REQUIRE(p);
  CHECK(p->rules.size() == 2);   // no suppress rule
  CHECK(where(*p, "192.168.1.7") == Verdict::tun);
  CHECK(where(*p, "2001:db8::1") == Verdict::unreachable);
  CHECK(where(*p, "198.18.0.2", in.fwmark) == Verdict::other);
  SECTION("exclude_local_networks keeps the LAN outside") {
    in.exclude_local_networks = true;
    in.local_networks = {C("192.168.1.0/24"), C("198.18.0.0/30")};   // the second is not private
    auto q = plan_routes(in, {});
    REQUIRE(q);
    CHECK(where(*q, "192.168.1.7") == Verdict::other);
    CHECK(where(*q, "8.8.8.8") == Verdict::tun);
    bool public_excluded = false;
    for (const auto& r : q->routes) public_excluded = public_excluded || r.dst == C("198.18.0.0/30");
    CHECK_FALSE(public_excluded);
  }
}

TEST_CASE("split include: routes in main, no rules", "[route_plan]") {
  auto in = base();
  in.included = {C("10.0.0.0/8"), C("fd99::/64")};
  auto p = plan_routes(in, original_paths(in));
  REQUIRE(p);
  CHECK(p->rules.empty());
  CHECK(where(*p, "10.1.2.3") == Verdict::tun);
  CHECK(where(*p, "fd99::5") == Verdict::tun);
  CHECK(where(*p, "8.8.8.8") == Verdict::other);
}

TEST_CASE("split exclude: throw routes in ptun's table", "[route_plan]") {
  auto in = base();
  in.included = {C("0.0.0.0/0")};
  in.excluded = {C("203.0.113.0/24")};
  in.tunnel_v6 = false;
  auto p = plan_routes(in, {});
  REQUIRE(p);
  CHECK(where(*p, "203.0.113.9") == Verdict::other);
  CHECK(where(*p, "203.0.114.9") == Verdict::tun);
}

TEST_CASE("an exclusion inside a non-default include uses the original path", "[route_plan]") {
  auto in = base();
  in.included = {C("10.0.0.0/8")};
  in.excluded = {C("10.5.0.0/16")};
  auto paths = original_paths(in);
  REQUIRE(paths.size() == 1);
  auto p = plan_routes(in, paths);
  REQUIRE(p);
  CHECK(where(*p, "10.5.1.1") == Verdict::other);
  CHECK(where(*p, "10.6.1.1") == Verdict::tun);
}

TEST_CASE("a route covering the server gets a host route via the original path, or is refused", "[route_plan]") {
  auto in = base();
  in.included = {C("198.18.0.0/15")};
  REQUIRE(needed_paths(in) == std::vector<IpAddr>{A("198.18.0.2")});
  auto p = plan_routes(in, original_paths(in));
  REQUIRE(p);
  CHECK(where(*p, "198.18.0.2", in.fwmark) == Verdict::other);
  CHECK(where(*p, "198.18.0.9") == Verdict::tun);
  auto refused = plan_routes(in, {});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("cut off") != std::string::npos);
}

TEST_CASE("conflicting or malformed routes are refused with a reason", "[route_plan]") {
  auto in = base();
  in.included = {C("10.0.0.0/8")};
  in.excluded = {C("10.0.0.0/8")};
  auto r = plan_routes(in, {});
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("both included and excluded") != std::string::npos);
  in.excluded = {Cidr{A("10.0.0.1"), 8}};
  REQUIRE_FALSE(plan_routes(in, {}));
  in.excluded.clear();
  in.server = IpAddr{};
  REQUIRE_FALSE(plan_routes(in, {}));
}

TEST_CASE("private and link-local prefixes", "[route_plan]") {
  CHECK(is_private_or_link_local(C("192.168.1.0/24")));
  CHECK(is_private_or_link_local(C("169.254.0.0/16")));
  CHECK(is_private_or_link_local(C("fe80::/64")));
  CHECK(is_private_or_link_local(C("fd00:18::/64")));
  CHECK_FALSE(is_private_or_link_local(C("198.18.0.0/30")));
  CHECK_FALSE(is_private_or_link_local(C("10.0.0.0/7")));
  CHECK_FALSE(is_private_or_link_local(C("2001:db8::/64")));
}

// Random plans checked against what they promise, with the naive FIB model as the reference:
// the server stays reachable outside the tunnel, excluded addresses never enter the tunnel, and
// addresses in an included route (not excluded, not in a more specific host route) do.
TEST_CASE("random plans keep their promises", "[route_plan]") {
  std::mt19937 rng(7074);
  auto rand_cidr = [&]() {
    uint8_t prefix = uint8_t(rng() % 25);
    uint32_t a = rng() & 0x0fffffff;   // stay clear of 192.168/16 and 198.18/15 for simplicity
    a |= 0x10000000u * (1 + rng() % 8);
    Cidr c{IpAddr::v4(a), prefix};
    return c.network();
  };
  for (int iter = 0; iter < 500; ++iter) {
    auto in = base();
    in.tunnel_v6 = false;
    int ni = 1 + int(rng() % 3), ne = int(rng() % 3);
    for (int i = 0; i < ni; ++i) in.included.push_back(rand_cidr());
    for (int i = 0; i < ne; ++i) in.excluded.push_back(rand_cidr());
    if (rng() % 4 == 0) in.included.push_back(C("0.0.0.0/0"));
    if (rng() % 5 == 0) in.included.push_back(C("198.18.0.0/16"));   // covers the server
    auto p = plan_routes(in, original_paths(in));
    if (!p) {
      // only an exact include/exclude duplicate may be refused here
      bool dup = false;
      for (const auto& i : in.included)
        for (const auto& e : in.excluded) dup = dup || i == e;
      REQUIRE(dup);
      continue;
    }
    INFO("iteration " << iter);
    CHECK(where(*p, "198.18.0.2", in.fwmark) == Verdict::other);
    for (int probe = 0; probe < 40; ++probe) {
      IpAddr dst = IpAddr::v4((rng() & 0x0fffffff) | 0x10000000u * (1 + rng() % 8));
      bool inc = false, exc = false;
      for (const auto& c : in.included) inc = inc || c.contains(dst);
      for (const auto& c : in.excluded) exc = exc || c.contains(dst);
      auto v = where(*p, dst.str().c_str());
      if (exc) {
        // an exclusion wins unless an included route more specific than it covers the address
        bool more_specific_inc = false;
        for (const auto& c : in.included)
          for (const auto& e : in.excluded)
            more_specific_inc = more_specific_inc || (c.contains(dst) && e.contains(dst) && c.prefix > e.prefix);
        if (!more_specific_inc) CHECK(v == Verdict::other);
      } else if (inc) {
        CHECK(v == Verdict::tun);
      } else {
        CHECK(v == Verdict::other);
      }
    }
  }
}
