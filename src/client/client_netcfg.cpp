// Applying the tunnel's network settings to the host and removing them: the TUN's addresses and
// MTU here; routes, policy rules, DNS and the firewall through netcfg::ClientHost (journaled,
// all or nothing).
#include "client/client.hpp"
#include "netlink/rtnl.hpp"

namespace ptun::client {

Result<void> Client::apply_settings(const proto::NetworkSettings& s) {
  if (stack_) return apply_settings_userspace(s);   // no host changes in userspace mode
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

  if (auto r = host_->apply(s, tun_->ifindex()); !r) {
    remove_settings();   // host_->apply rolled its own part back already
    return r;
  }
  if (auto r = apply_app_rules(); !r) {
    remove_settings();
    return r;
  }
  applied_ = s;
  return {};
}

void Client::remove_settings() {
  remove_app_rules();
  if (host_) host_->clear();
  if (rtnl_ && tun_) {
    for (const auto& a : applied_addrs_) (void)rtnl_->addr_del(tun_->ifindex(), a);
  }
  applied_addrs_.clear();
  applied_.reset();
}

}  // namespace ptun::client
