// Everything the client changes on its host for one set of tunnel settings, decided in one pure
// function: the server's push merged with the local config ([routes], [dns], [protocol], as
// HostValues: host_values.hpp) into a route plan, a DNS plan and the enforce_routes firewall.
// Validation errors are reasons a user can act on ("route 10.0.0.0/8 is both included and
// excluded").
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "netcfg/dns_plan.hpp"
#include "netcfg/host_values.hpp"
#include "netcfg/route_plan.hpp"
#include "netlink/rtnl_types.hpp"
#include "proto/settings.hpp"

namespace ptun::netcfg {

struct HostFacts {
  Endpoint server;
  int tun_ifindex = 0;
  std::vector<Cidr> connected;          // directly connected networks (connected_networks())
  std::vector<OriginalPath> paths;      // route_get answers for needed_paths()
};

struct HostPlan {
  RoutePlan routes;
  DnsPlan dns;
  std::optional<std::string> enforce_nft;   // enforce_routes without include_all_networks
};

// The route inputs for settings + values (also used to ask for needed_paths()).
RouteInputs route_inputs(const proto::NetworkSettings& s, const HostValues& v, const HostFacts& f);
DnsInputs dns_inputs(const proto::NetworkSettings& s, const HostValues& v);

// Errc::invalid_argument with the reason when the settings conflict or are malformed.
Result<HostPlan> plan_host(const proto::NetworkSettings& s, const HostValues& v, const HostFacts& f);

// The networks of the host's addresses outside the TUN and loopback (their prefixes' networks).
std::vector<Cidr> connected_networks(const std::vector<netlink::AddrInfo>& addrs, int tun_ifindex);

}  // namespace ptun::netcfg
