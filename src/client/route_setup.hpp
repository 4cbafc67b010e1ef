// Applies the tunnel's routes on the client host and removes exactly what it added.
// Included routes go to the TUN; a default route (0.0.0.0/0, ::/0) goes through policy routing as
// wg-quick does: the default sits in ptun's own table, a rule sends every packet that is NOT
// marked with ptun's fwmark there, and ptun's own UDP socket carries the mark, so the server stays
// reachable through the original path; a "lookup main suppress_prefixlength 0" rule in front keeps
// the host's more specific routes (the local network) in charge. Excluded routes become "throw"
// routes in ptun's table, so lookups fall back to the host's original path.
#pragma once
#include <vector>

#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "netlink/rtnl.hpp"

namespace ptun::client {

struct RoutePlan {
  std::vector<netlink::Route> routes;
  std::vector<netlink::Rule> rules;
};

// Pure: what to install for these included/excluded routes (sans-I/O, unit-tested).
RoutePlan plan_routes(const std::vector<Cidr>& included, const std::vector<Cidr>& excluded, int tun_ifindex,
                      uint32_t table, uint32_t fwmark, uint32_t rule_priority);

class RouteSetup {
 public:
  ~RouteSetup() { remove(); }
  // Installs the plan; on any failure removes what was installed and returns the error.
  Result<void> apply(netlink::Rtnl& rtnl, const RoutePlan& plan);
  // Removes everything apply() installed (best effort, logs failures).
  void remove();
  const RoutePlan& applied() const { return applied_; }

 private:
  netlink::Rtnl* rtnl_ = nullptr;
  RoutePlan applied_;
};

}  // namespace ptun::client
