// A naive model of the kernel's policy routing for checking route plans: rules in priority order
// (local table first, then the plan's rules, then main), longest prefix match per table, throw
// routes continue with the next rule, suppress_prefixlength drops matches of that length or less.
#pragma once
#include <optional>
#include <vector>

#include "netlink/rtnl_types.hpp"

namespace fibsim {

using ptun::Cidr;
using ptun::IpAddr;
using ptun::netlink::Route;
using ptun::netlink::Rule;

enum class Verdict { tun, other, unreachable, none };

inline std::optional<Route> lookup(const std::vector<Route>& routes, uint32_t table, const IpAddr& dst) {
  std::optional<Route> best;
  for (const auto& r : routes)
    if (r.table == table && r.dst.addr.family == dst.family && r.dst.contains(dst) &&
        (!best || r.dst.prefix > best->dst.prefix))
      best = r;
  return best;
}

// main: the host's own routes (table 254) plus the plan's; the plan's rules; marked: SO_MARK.
inline Verdict route(const std::vector<Route>& routes, std::vector<Rule> rules, const IpAddr& dst, uint32_t mark,
                     int tun_ifindex) {
  Rule main_rule;
  main_rule.family = dst.family;
  main_rule.priority = 32766;
  main_rule.table = RT_TABLE_MAIN;
  rules.push_back(main_rule);
  std::stable_sort(rules.begin(), rules.end(), [](const Rule& a, const Rule& b) { return a.priority < b.priority; });
  for (const auto& rule : rules) {
    if (rule.family != dst.family) continue;
    if (rule.fwmark || rule.fwmask) {
      bool m = (mark & rule.fwmask) == rule.fwmark;
      if (m == rule.invert) continue;
    }
    auto r = lookup(routes, rule.table, dst);
    if (!r) continue;
    if (rule.suppress_prefixlen >= 0 && r->dst.prefix <= rule.suppress_prefixlen) continue;
    if (r->type == RTN_THROW) continue;
    if (r->type == RTN_UNREACHABLE) return Verdict::unreachable;
    return r->ifindex == tun_ifindex ? Verdict::tun : Verdict::other;
  }
  return Verdict::none;
}

}  // namespace fibsim
