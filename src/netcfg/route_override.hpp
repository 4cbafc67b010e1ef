// TunnelVision detection (CVE-2024-3661), sans-I/O: which of the host's routes win, for traffic
// the tunnel's routes should carry, over those routes under the installed plan. A rogue DHCP
// server's classless static routes (option 121: a /1 pair, a /32) land in the main table; the
// layout in route_plan.hpp lets main win for non-default included routes (longest prefix) and,
// through "lookup main suppress_prefixlength 0", for a default route in ptun's table too.
//
// The answer comes from a model of the kernel's policy routing over the plan's rules and routes
// plus one host route at a time: a host route beats the tunnel when the lookup of its network
// address (unmarked, as an app's traffic) picks it, and picks a route through the TUN without it.
// Routes in tables other than main are not consulted (no rule of ptun's sends traffic there).
#pragma once
#include <string>
#include <vector>

#include "netcfg/route_plan.hpp"
#include "netlink/rtnl_types.hpp"

namespace ptun::netcfg {

struct RouteOverride {
  netlink::Route route;   // the host's route (main table)
  Cidr tunnel;            // the tunnel's route it takes traffic from
  bool operator==(const RouteOverride&) const = default;
};

// Never counted: ptun's own routes (protocol kPtunRouteProto), the kernel's routes for the
// host's addresses (protocol kernel), routes through the TUN, and any type but unicast.
std::vector<RouteOverride> find_overrides(const RoutePlan& plan, const std::vector<netlink::Route>& host,
                                          int tun_ifindex);

// "128.0.0.0/1 via 198.18.0.1 dev #2 beats 0.0.0.0/0": for logs and status.
std::string describe(const RouteOverride& o);

}  // namespace ptun::netcfg
