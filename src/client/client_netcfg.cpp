// Applying the tunnel's network settings to the host and removing them: the TUN's addresses and
// MTU here; routes, policy rules, DNS and the firewall through netcfg::ClientHost (journaled,
// all or nothing).
#include <algorithm>

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
  // A reconnect with the same settings: nothing to do, unless a reload changed [routes]/[dns]
  // meanwhile (the settings pushed are the same, what the host gets from them is not).
  if (applied_ && *applied_ == s && !host_values_changed_) return {};
  host_values_changed_ = false;
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

bool Client::protect_routes() const {
  return cfg_.protocol.protect_routes.value_or(applied_ && applied_->protect_routes);
}

// Run after every settled rtnetlink change (run_path): a dump of the main table against the plan
// in place. The kernel's events only say that something changed; the dump says what is there now.
void Client::check_overrides() {
  if (!host_ || !host_->applied() || !path_rtnl_ || !tun_) {
    overrides_.clear();
    return;
  }
  auto routes = path_rtnl_->routes(Family::none, RT_TABLE_MAIN);
  if (!routes) {
    LOG_WARN("client: cannot read the routing table: %s", routes.error().message.c_str());
    return;
  }
  auto now = netcfg::find_overrides(host_->applied()->routes, *routes, tun_->ifindex());
  for (const auto& o : now) {
    if (std::find(overrides_.begin(), overrides_.end(), o) != overrides_.end()) continue;
    ++overrides_seen_;
    LOG_WARN("client: route %s: traffic for the tunnel %s (TunnelVision, CVE-2024-3661; protect_routes defends)",
             netcfg::describe(o).c_str(), host_->kill_switch() ? "is dropped by the kill switch" : "leaves outside it");
  }
  for (const auto& o : overrides_)
    if (std::find(now.begin(), now.end(), o) == now.end())
      LOG_INFO("client: route %s is gone", netcfg::describe(o).c_str());
  overrides_ = std::move(now);
}

nlohmann::json Client::overrides_json() const {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& o : overrides_) {
    nlohmann::json e;
    e["route"] = o.route.dst.str();
    if (o.route.gateway) e["via"] = o.route.gateway->str();
    std::string dev = "#" + std::to_string(o.route.ifindex);
    if (path_rtnl_)
      if (auto l = path_rtnl_->link_get(o.route.ifindex)) dev = l->name;
    e["dev"] = dev;
    e["beats"] = o.tunnel.str();
    e["dropped_by_kill_switch"] = host_ && host_->kill_switch();
    a.push_back(e);
  }
  return a;
}

void Client::remove_settings() {
  overrides_.clear();
  remove_app_rules();
  if (host_) host_->clear();
  if (rtnl_ && tun_) {
    for (const auto& a : applied_addrs_) (void)rtnl_->addr_del(tun_->ifindex(), a);
  }
  applied_addrs_.clear();
  applied_.reset();
}

}  // namespace ptun::client
