#include "netcfg/route_override.hpp"

#include <algorithm>

namespace ptun::netcfg {
namespace {

constexpr uint32_t kMainRulePriority = 32766;   // the kernel's "from all lookup main"

// Longest prefix match in one table; a tie keeps the earlier route (the plan's come first: ptun
// installs its routes with metric 0, which beats any other metric of the same prefix).
const netlink::Route* lookup(const std::vector<const netlink::Route*>& routes, uint32_t table, const IpAddr& dst) {
  const netlink::Route* best = nullptr;
  for (const auto* r : routes)
    if (r->table == table && r->dst.addr.family == dst.family && r->dst.contains(dst) &&
        (!best || r->dst.prefix > best->dst.prefix))
      best = r;
  return best;
}

// The route an unmarked packet to `dst` takes (nullptr: none, or unreachable/blackhole).
const netlink::Route* resolve(const std::vector<netlink::Rule>& rules, const std::vector<const netlink::Route*>& routes,
                              const IpAddr& dst) {
  for (const auto& rule : rules) {
    if (rule.family != dst.family) continue;
    if (rule.fwmark || rule.fwmask) {
      bool m = (0u & rule.fwmask) == rule.fwmark;   // app traffic carries no mark
      if (m == rule.invert) continue;
    }
    const netlink::Route* r = lookup(routes, rule.table, dst);
    if (!r) continue;
    if (rule.suppress_prefixlen >= 0 && r->dst.prefix <= rule.suppress_prefixlen) continue;
    if (r->type == RTN_THROW) continue;
    return r->type == RTN_UNICAST ? r : nullptr;
  }
  return nullptr;
}

bool candidate(const netlink::Route& r, int tun_ifindex) {
  return r.table == RT_TABLE_MAIN && r.type == RTN_UNICAST && r.protocol != netlink::kPtunRouteProto &&
         r.protocol != RTPROT_KERNEL && r.ifindex != tun_ifindex && !r.dst.addr.empty();
}

}  // namespace

std::vector<RouteOverride> find_overrides(const RoutePlan& plan, const std::vector<netlink::Route>& host,
                                          int tun_ifindex) {
  std::vector<netlink::Rule> rules = plan.rules;
  for (Family f : {Family::v4, Family::v6}) {
    netlink::Rule main_rule;
    main_rule.family = f;
    main_rule.priority = kMainRulePriority;
    main_rule.table = RT_TABLE_MAIN;
    rules.push_back(main_rule);
  }
  std::stable_sort(rules.begin(), rules.end(), [](const auto& a, const auto& b) { return a.priority < b.priority; });
  std::vector<const netlink::Route*> routes;
  for (const auto& r : plan.routes) routes.push_back(&r);
  std::vector<RouteOverride> out;
  for (const auto& h : host) {
    if (!candidate(h, tun_ifindex)) continue;
    const IpAddr& dst = h.dst.network().addr;
    const netlink::Route* before = resolve(rules, routes, dst);
    if (!before || before->ifindex != tun_ifindex) continue;   // not the tunnel's traffic
    routes.push_back(&h);
    const netlink::Route* after = resolve(rules, routes, dst);
    routes.pop_back();
    if (after == &h) out.push_back(RouteOverride{h, before->dst});
  }
  return out;
}

std::string describe(const RouteOverride& o) {
  std::string s = o.route.dst.str();
  if (o.route.gateway) s += " via " + o.route.gateway->str();
  if (o.route.ifindex) s += " dev #" + std::to_string(o.route.ifindex);
  return s + " beats " + o.tunnel.str();
}

}  // namespace ptun::netcfg
