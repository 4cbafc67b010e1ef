// Route arithmetic for the client's host (sans-I/O): which routes and policy rules to install for
// the tunnel's settings, and whether the settings are acceptable at all.
//
// The layout (wg-quick style, extended):
//  - included routes other than a default go to the TUN in the main table, so more specific host
//    routes keep precedence exactly as in the system routing table;
//  - a default route (0.0.0.0/0, ::/0) goes to ptun's own table T; rule P "lookup main
//    suppress_prefixlength 0" lets every non-default main route win, rule P+1 "not fwmark M lookup
//    T" sends the rest to T. ptun's UDP socket carries mark M and never sees T;
//  - include_all_networks: every family gets a default in T and rule P is left out (everything,
//    the local network too, goes into the tunnel, as Apple does) unless exclude_local_networks;
//  - excluded routes: "throw" routes in T (the lookup falls back to main); an excluded route inside
//    a non-default included route gets a route in main via its original path (route_get before);
//  - an included route that contains the VPN server gets a host route to the server via its
//    original path, so ptun's own datagrams cannot be cut off;
//  - exclude_local_networks: the directly connected private/link-local networks become excluded.
//  - protect_routes (TunnelVision, CVE-2024-3661): every included route is also in T, the
//    directly connected networks are "throw" routes there (the LAN stays reachable unless
//    include_all_networks sends it into the tunnel), and rule P-1 "not fwmark M lookup T" comes
//    before the main table: a more specific route a rogue DHCP server adds to main (a /1, a /32)
//    never sees traffic for the tunnel's prefixes. Excluded prefixes keep their throw routes.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "netlink/rtnl_types.hpp"

namespace ptun::netcfg {

struct RouteInputs {
  std::vector<Cidr> included, excluded;   // push + local config, already merged
  std::vector<Cidr> local_networks;       // directly connected networks (excluded if private/link-local
                                          // and exclude_local_networks; thrown from T if protect_routes)
  IpAddr server;                          // the VPN server's underlay address
  int tun_ifindex = 0;
  uint32_t table = netlink::kPtunRouteTable, fwmark = 0x7074, rule_priority = 5200;
  bool include_all_networks = false, exclude_local_networks = false, protect_routes = false;
  bool tunnel_v4 = true, tunnel_v6 = true;  // the tunnel has an address of that family
};

// The original path to one address (from RTM_GETROUTE before anything is changed).
struct OriginalPath {
  IpAddr dst;
  netlink::Route route;   // as route_get returned it
};

struct RoutePlan {
  std::vector<netlink::Route> routes;
  std::vector<netlink::Rule> rules;
  bool operator==(const RoutePlan&) const = default;
};

// Checks the inputs: Errc::invalid_argument with the reason for a prefix both included and
// excluded, a prefix with host bits set or of no family, an empty server address.
// An included route of a family the tunnel does not carry is not an error: it becomes an
// "unreachable" route, so that traffic fails fast instead of leaking (v4-only tunnel, ::/0).
Result<void> validate_routes(const RouteInputs& in);

// The addresses whose original path plan_routes needs (the server if an included route covers it,
// excluded prefixes inside non-default included routes). Ask route_get for each.
std::vector<IpAddr> needed_paths(const RouteInputs& in);

// The routes and rules to install. Errc::invalid_argument if a needed original path is missing
// (e.g. the server is unreachable without the tunnel: refusing is safer than cutting it off).
Result<RoutePlan> plan_routes(const RouteInputs& in, const std::vector<OriginalPath>& paths);

// A prefix is private or link-local (RFC 1918, 100.64/10 CGNAT, 169.254/16, fc00::/7, fe80::/10):
// the networks exclude_local_networks may bypass the tunnel for.
bool is_private_or_link_local(const Cidr& c);

// Prefix containment: `outer` contains every address of `inner` (same family).
bool covers(const Cidr& outer, const Cidr& inner);

}  // namespace ptun::netcfg
