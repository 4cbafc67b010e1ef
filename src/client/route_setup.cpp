#include "client/route_setup.hpp"

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

#include "common/log.hpp"

namespace ptun::client {

RoutePlan plan_routes(const std::vector<Cidr>& included, const std::vector<Cidr>& excluded, int tun_ifindex,
                      uint32_t table, uint32_t fwmark, uint32_t rule_priority) {
  RoutePlan plan;
  bool default_v4 = false, default_v6 = false;
  for (const auto& c : included) {
    netlink::Route r;
    r.dst = c.network();
    r.ifindex = tun_ifindex;
    if (c.prefix == 0) {
      (c.addr.is_v4() ? default_v4 : default_v6) = true;
      r.table = table;
    }
    plan.routes.push_back(r);
  }
  for (const auto& c : excluded) {
    netlink::Route r;
    r.dst = c.network();
    r.type = RTN_THROW;
    r.table = table;
    plan.routes.push_back(r);
  }
  for (Family fam : {Family::v4, Family::v6}) {
    if (!(fam == Family::v4 ? default_v4 : default_v6)) continue;
    netlink::Rule suppress;
    suppress.family = fam;
    suppress.priority = rule_priority;
    suppress.table = RT_TABLE_MAIN;
    suppress.suppress_prefixlen = 0;
    plan.rules.push_back(suppress);
    netlink::Rule to_tunnel;
    to_tunnel.family = fam;
    to_tunnel.priority = rule_priority + 1;
    to_tunnel.table = table;
    to_tunnel.fwmark = fwmark;
    to_tunnel.fwmask = 0xffffffff;
    to_tunnel.invert = true;
    plan.rules.push_back(to_tunnel);
  }
  return plan;
}

Result<void> RouteSetup::apply(netlink::Rtnl& rtnl, const RoutePlan& plan) {
  rtnl_ = &rtnl;
  for (const auto& r : plan.routes) {
    if (auto res = rtnl.route_replace(r); !res) {
      remove();
      return Error(res.error().code, "route " + r.dst.str() + ": " + res.error().message);
    }
    applied_.routes.push_back(r);
  }
  for (const auto& r : plan.rules) {
    if (auto res = rtnl.rule_add(r); !res) {
      remove();
      return Error(res.error().code, "policy rule: " + res.error().message);
    }
    applied_.rules.push_back(r);
  }
  return {};
}

void RouteSetup::remove() {
  if (!rtnl_) return;
  for (auto it = applied_.rules.rbegin(); it != applied_.rules.rend(); ++it) {
    if (auto r = rtnl_->rule_del(*it); !r) LOG_WARN("client: removing rule: %s", r.error().message.c_str());
  }
  for (auto it = applied_.routes.rbegin(); it != applied_.routes.rend(); ++it) {
    // Routes through the TUN vanish with it; ignore "not found".
    auto r = rtnl_->route_del(*it);
    if (!r && r.error().code != Errc::not_found)
      LOG_DEBUG("client: removing route %s: %s", it->dst.str().c_str(), r.error().message.c_str());
  }
  applied_ = {};
}

}  // namespace ptun::client
