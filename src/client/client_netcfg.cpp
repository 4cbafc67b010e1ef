// Applying the tunnel's network settings to the host (addresses, MTU, routes) and removing them.
#include "client/client.hpp"
#include "netlink/rtnl.hpp"

namespace ptun::client {

Result<void> Client::apply_settings(const proto::NetworkSettings& s) {
  if (applied_ && *applied_ == s) return {};   // a reconnect with the same settings: nothing to do
  remove_settings();

  std::vector<Cidr> addrs;
  if (s.ipv4) addrs.push_back(*s.ipv4);
  if (s.ipv6) addrs.push_back(*s.ipv6);
  tun_mtu_ = cfg_.tunnel.mtu ? cfg_.tunnel.mtu : (s.mtu ? s.mtu : 1400);
  if (auto r = tun_->configure(*rtnl_, tun_mtu_, addrs); !r) return r;
  applied_addrs_ = addrs;
  max_mss_v4_ = uint16_t(tun_mtu_ - 40);
  max_mss_v6_ = uint16_t(tun_mtu_ - 60);

  std::vector<Cidr> inc = s.included_routes, exc = s.excluded_routes;
  inc.insert(inc.end(), cfg_.routes.include.begin(), cfg_.routes.include.end());
  exc.insert(exc.end(), cfg_.routes.exclude.begin(), cfg_.routes.exclude.end());
  auto plan = plan_routes(inc, exc, tun_->ifindex(), cfg_.tunnel.table, cfg_.tunnel.fwmark, 5200);
  if (auto r = routes_.apply(*rtnl_, plan); !r) return r;
  applied_ = s;
  return {};
}

void Client::remove_settings() {
  routes_.remove();
  if (rtnl_ && tun_) {
    for (const auto& a : applied_addrs_) (void)rtnl_->addr_del(tun_->ifindex(), a);
  }
  applied_addrs_.clear();
  applied_.reset();
}

}  // namespace ptun::client
