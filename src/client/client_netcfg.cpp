// Applying the tunnel's network settings to the host and removing them: the TUN's addresses and
// MTU here; routes, policy rules, DNS and the firewall through netcfg::ClientHost (journaled,
// all or nothing).
#include "client/client.hpp"
#include "netlink/rtnl.hpp"
#include "proto/wire.hpp"

namespace ptun::client {

// The TUN's MTU: the configured one; else the server's, lowered to what fits one packet on the
// path to the server with this session's exact overhead (underlay IP + UDP + ptun header + DTLS
// record), so tunnelled packets are never fragmented on the underlay.
uint32_t Client::effective_mtu(const proto::NetworkSettings& s) {
  if (cfg_.tunnel.mtu) return cfg_.tunnel.mtu;
  uint32_t mtu = s.mtu ? s.mtu : 1400;
  size_t overhead = session_ ? session_->record_overhead() : 0;
  if (overhead == 0) overhead = proto::kAesGcmRecordOverhead;   // the larger of the two suites
  auto route = rtnl_->route_get(server_ep_.addr, cfg_.tunnel.fwmark);
  if (!route || route->ifindex == 0) return mtu;
  uint32_t underlay = route->mtu;
  if (underlay == 0) {
    auto link = rtnl_->link_get(route->ifindex);
    if (!link) return mtu;
    underlay = link->mtu;
  }
  uint32_t fit = proto::tunnel_mtu(uint16_t(std::min<uint32_t>(underlay, 65535)), server_ep_.addr.family, overhead);
  if (fit < mtu) {
    LOG_INFO("client: MTU %u (underlay %u minus %zu bytes of overhead) instead of the server's %u", fit,
             underlay, proto::tunnel_overhead(server_ep_.addr.family, overhead), mtu);
    mtu = fit;
  }
  if (mtu < limits::kMinTunMtu) {
    LOG_WARN("client: the path to the server fits only %u-byte packets; using %zu (IPv6 minimum): large "
             "packets will be fragmented on the underlay", mtu, limits::kMinTunMtu);
    mtu = uint32_t(limits::kMinTunMtu);
  }
  return mtu;
}

Result<void> Client::apply_settings(const proto::NetworkSettings& s) {
  if (stack_) return apply_settings_userspace(s);   // no host changes in userspace mode
  if (applied_ && *applied_ == s) return {};   // a reconnect with the same settings: nothing to do
  remove_settings();

  std::vector<Cidr> addrs;
  if (s.ipv4) addrs.push_back(*s.ipv4);
  if (s.ipv6) addrs.push_back(*s.ipv6);
  tun_mtu_ = effective_mtu(s);
  if (auto r = tun_->configure(*rtnl_, tun_mtu_, addrs); !r) return r;
  applied_addrs_ = addrs;
  dp_.set_mtu(tun_mtu_, s.ipv4 ? std::optional(s.ipv4->addr) : std::nullopt,
              s.ipv6 ? std::optional(s.ipv6->addr) : std::nullopt);

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
