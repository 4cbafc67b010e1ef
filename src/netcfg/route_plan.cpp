#include "netcfg/route_plan.hpp"

#include <algorithm>

namespace ptun::netcfg {
namespace {

bool is_default(const Cidr& c) { return c.prefix == 0; }

bool carried(const RouteInputs& in, Family f) { return f == Family::v4 ? in.tunnel_v4 : in.tunnel_v6; }

Cidr host_prefix(const IpAddr& a) { return Cidr{a, uint8_t(a.is_v4() ? 32 : 128)}; }

const OriginalPath* find_path(const std::vector<OriginalPath>& paths, const IpAddr& a) {
  for (const auto& p : paths)
    if (p.dst == a) return &p;
  return nullptr;
}

// The included set after include_all_networks (a default per family) with duplicates removed.
std::vector<Cidr> effective_included(const RouteInputs& in) {
  std::vector<Cidr> inc;
  auto add = [&](const Cidr& c) {
    if (std::find(inc.begin(), inc.end(), c) == inc.end()) inc.push_back(c);
  };
  if (in.include_all_networks) {
    add(Cidr{*IpAddr::parse("0.0.0.0"), 0});
    add(Cidr{*IpAddr::parse("::"), 0});
  }
  for (const auto& c : in.included) add(c.network());
  return inc;
}

std::vector<Cidr> effective_excluded(const RouteInputs& in) {
  std::vector<Cidr> exc;
  auto add = [&](const Cidr& c) {
    if (std::find(exc.begin(), exc.end(), c) == exc.end()) exc.push_back(c);
  };
  for (const auto& c : in.excluded) add(c.network());
  if (in.exclude_local_networks)
    for (const auto& c : in.local_networks)
      if (is_private_or_link_local(c)) add(c.network());
  return exc;
}

// The non-default included route of a carried family that covers `c`, if any.
bool inside_main_include(const std::vector<Cidr>& inc, const RouteInputs& in, const Cidr& c) {
  for (const auto& i : inc)
    if (!is_default(i) && carried(in, i.addr.family) && covers(i, c)) return true;
  return false;
}

// protect_routes (route_plan.hpp): T answers first for every included prefix.
void protect(const RouteInputs& in, const std::vector<Cidr>& inc, const std::vector<Cidr>& exc, RoutePlan& plan) {
  std::vector<netlink::Route> copies;
  for (const auto& r : plan.routes)
    if (r.table == RT_TABLE_MAIN && r.type != RTN_THROW &&
        std::find(inc.begin(), inc.end(), r.dst) != inc.end()) {
      netlink::Route c = r;
      c.table = in.table;
      copies.push_back(c);
    }
  plan.routes.insert(plan.routes.end(), copies.begin(), copies.end());
  // The LAN keeps precedence as it does through the main table today; include_all_networks sends
  // it into the tunnel (its private part only if excluded, and those are throw routes already).
  if (!in.include_all_networks) {
    for (const auto& c : in.local_networks) {
      Cidr n = c.network();
      if (std::find(exc.begin(), exc.end(), n) != exc.end() || std::find(inc.begin(), inc.end(), n) != inc.end())
        continue;
      netlink::Route t;
      t.dst = n;
      t.type = RTN_THROW;
      t.table = in.table;
      if (std::find(plan.routes.begin(), plan.routes.end(), t) == plan.routes.end()) plan.routes.push_back(t);
    }
  }
  for (Family fam : {Family::v4, Family::v6}) {
    bool any = false;
    for (const auto& c : inc) any = any || c.addr.family == fam;
    if (!any) continue;
    netlink::Rule first;
    first.family = fam;
    first.priority = in.rule_priority - 1;
    first.table = in.table;
    first.fwmark = in.fwmark;
    first.fwmask = 0xffffffff;
    first.invert = true;
    plan.rules.push_back(first);
  }
}

}  // namespace

bool covers(const Cidr& outer, const Cidr& inner) {
  return outer.addr.family == inner.addr.family && outer.prefix <= inner.prefix && outer.contains(inner.addr);
}

bool is_private_or_link_local(const Cidr& c) {
  static const char* kRanges[] = {"10.0.0.0/8",  "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                  "169.254.0.0/16", "fc00::/7",   "fe80::/10"};
  for (const char* r : kRanges)
    if (covers(*Cidr::parse(r), c)) return true;
  return false;
}

Result<void> validate_routes(const RouteInputs& in) {
  if (in.server.empty()) return Error(Errc::invalid_argument, "no server address");
  for (const auto* list : {&in.included, &in.excluded}) {
    for (const auto& c : *list) {
      if (c.addr.empty()) return Error(Errc::invalid_argument, "a route without an address family");
      if (!(c.network() == c)) return Error(Errc::invalid_argument, "route " + c.str() + " has host bits set");
    }
  }
  for (const auto& i : in.included)
    for (const auto& e : in.excluded)
      if (i == e) return Error(Errc::invalid_argument, "route " + i.str() + " is both included and excluded");
  return {};
}

std::vector<IpAddr> needed_paths(const RouteInputs& in) {
  std::vector<IpAddr> out;
  auto inc = effective_included(in);
  if (inside_main_include(inc, in, host_prefix(in.server))) out.push_back(in.server);
  for (const auto& e : effective_excluded(in))
    if (inside_main_include(inc, in, e) && std::find(out.begin(), out.end(), e.addr) == out.end())
      out.push_back(e.addr);
  return out;
}

Result<RoutePlan> plan_routes(const RouteInputs& in, const std::vector<OriginalPath>& paths) {
  if (auto r = validate_routes(in); !r) return r.error();
  RoutePlan plan;
  auto inc = effective_included(in);
  auto exc = effective_excluded(in);
  bool default_v4 = false, default_v6 = false;
  for (const auto& c : inc) {
    netlink::Route r;
    r.dst = c;
    if (is_default(c)) {
      (c.addr.is_v4() ? default_v4 : default_v6) = true;
      r.table = in.table;
    }
    if (carried(in, c.addr.family)) {
      r.ifindex = in.tun_ifindex;
    } else {
      r.type = RTN_UNREACHABLE;   // the tunnel cannot carry it: fail fast, never leak
    }
    plan.routes.push_back(r);
  }
  // Original paths for what must not go into a main-table include: the server first.
  auto via_original = [&](const Cidr& dst, const char* what) -> Result<void> {
    const OriginalPath* p = find_path(paths, dst.addr);
    if (!p || p->route.type != RTN_UNICAST || (!p->route.gateway && p->route.ifindex == 0) ||
        p->route.ifindex == in.tun_ifindex)
      return Error(Errc::invalid_argument, std::string(what) + " " + dst.str() +
                                               " would be cut off by the tunnel's routes and has no path outside it");
    netlink::Route r;
    r.dst = dst;
    r.ifindex = p->route.ifindex;
    r.gateway = p->route.gateway;
    plan.routes.push_back(r);
    return {};
  };
  if (inside_main_include(inc, in, host_prefix(in.server)))
    if (auto r = via_original(host_prefix(in.server), "the VPN server"); !r) return r.error();
  for (const auto& e : exc) {
    if (inside_main_include(inc, in, e)) {
      if (auto r = via_original(e, "excluded route"); !r) return r.error();
    }
    netlink::Route r;
    r.dst = e;
    r.type = RTN_THROW;
    r.table = in.table;
    plan.routes.push_back(r);
  }
  // include_all_networks sends the local network into the tunnel too, unless it is excluded.
  bool keep_main = !in.include_all_networks || in.exclude_local_networks;
  for (Family fam : {Family::v4, Family::v6}) {
    if (!(fam == Family::v4 ? default_v4 : default_v6)) continue;
    if (keep_main) {
      netlink::Rule suppress;
      suppress.family = fam;
      suppress.priority = in.rule_priority;
      suppress.table = RT_TABLE_MAIN;
      suppress.suppress_prefixlen = 0;
      plan.rules.push_back(suppress);
    }
    netlink::Rule to_tunnel;
    to_tunnel.family = fam;
    to_tunnel.priority = in.rule_priority + 1;
    to_tunnel.table = in.table;
    to_tunnel.fwmark = in.fwmark;
    to_tunnel.fwmask = 0xffffffff;
    to_tunnel.invert = true;
    plan.rules.push_back(to_tunnel);
  }
  if (in.protect_routes) protect(in, inc, exc, plan);
  return plan;
}

}  // namespace ptun::netcfg
