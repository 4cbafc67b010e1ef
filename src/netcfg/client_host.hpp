// The client's host configuration over its whole life (the I/O side of client_plan.hpp):
//   open()      replay what a crashed run left (journal), then install the kill switch
//               (include_all_networks) before the client sends its first datagram;
//   apply()     routes, DNS and enforced routes for one set of settings; all or nothing (a
//               failure half-way rolls back to the state before apply);
//   clear()     back to the state after open() (reconnect with other settings): kill switch kept;
//   release()   disconnected but still running (`ptun down`, on-demand): settings removed; the
//               kill switch too, unless always_on and not a user's `ptun down` (fail closed);
//   engage()    before connecting again: the kill switch back (include_all_networks);
//   shutdown()  restore the host; always_on keeps the kill switch (fail closed) unless the user
//               disconnected (`ptun down`); it stays journaled for `ptun cleanup`;
//   update()    new [routes]/[dns] values (a reload): used by the next apply();
//   update_server() the server moved (a reload, failover, a name resolving anew).
// It holds values (host_values.hpp), not the config, and does its I/O through HostOps and
// HostProbe (host_ops.hpp): the real ones from open(loop, rtnl, ...), fakes in tests.
#pragma once
#include <memory>
#include <string>

#include "config/config.hpp"
#include "netcfg/client_plan.hpp"
#include "netcfg/dns_forwarder.hpp"
#include "netcfg/host_config.hpp"
#include "netcfg/host_ops.hpp"
#include "netcfg/host_values.hpp"

namespace ptun::core { class Loop; }

namespace ptun::netcfg {

inline constexpr const char* kJournalName = "netcfg.journal";
inline constexpr const char* kResolvConf = "/etc/resolv.conf";

class ClientHost {
 public:
  // The real host: rtnetlink (`rtnl` outlives this object), nft, files. Errors: journal
  // unreadable, kill switch not installable, an interface name nftables cannot take.
  static Result<std::unique_ptr<ClientHost>> open(core::Loop& loop, netlink::Rtnl& rtnl, HostValues values,
                                                  const Endpoint& server);
  // The same over any HostOps/HostProbe (tests: fakes).
  static Result<std::unique_ptr<ClientHost>> open(core::Loop& loop, std::unique_ptr<HostOps> ops,
                                                  std::unique_ptr<HostProbe> probe, HostValues values,
                                                  const Endpoint& server);
  ~ClientHost();
  Result<void> apply(const proto::NetworkSettings& s, int tun_ifindex);
  void clear();
  void release(bool user_down);
  Result<void> engage();
  void shutdown(bool user_down);

  // New values from a reload: [routes] and [dns] take effect at the next apply() (the caller
  // clears and applies again); a change of anything else is refused (check_update) and nothing
  // changes.
  Result<void> update(const HostValues& values);
  // The server moved (reload, failover, a name resolving anew): the kill switch, if on, is
  // replaced atomically so that it lets the new endpoint through (and no longer the old one);
  // later settings route around the tunnel to it. On error nothing changed.
  Result<void> update_server(const Endpoint& server);

  const HostValues& values() const { return v_; }
  const Endpoint& server() const { return server_; }
  bool kill_switch() const { return kill_switch_; }
  const std::string& nft_table() const { return nft_table_; }
  const HostPlan* applied() const { return applied_ ? &*applied_ : nullptr; }
  const char* dns_backend() const { return dns_backend_; }
  const DnsForwarder* forwarder() const { return forwarder_.get(); }

 private:
  ClientHost(core::Loop& loop, std::unique_ptr<HostOps> ops, std::unique_ptr<HostProbe> probe, HostValues values,
             const Endpoint& server);
  Result<void> install_kill_switch();
  std::vector<IpAddr> system_resolvers();
  Result<void> apply_dns(const DnsPlan& dns);

  core::Loop& loop_;
  std::unique_ptr<HostOps> ops_;
  std::unique_ptr<HostProbe> probe_;
  HostValues v_;
  Endpoint server_;
  std::string nft_table_;   // this instance's kill switch / enforce_routes table
  HostConfig host_;
  size_t base_ = 0;   // checkpoint after open(): the kill switch
  bool kill_switch_ = false;
  std::optional<HostPlan> applied_;
  std::unique_ptr<DnsForwarder> forwarder_;
  const char* dns_backend_ = "none";
};

// `ptun cleanup`: replays and removes the journal of the client config's state_dir (routes,
// rules, DNS, nftables, also an always_on kill switch). Returns how many changes were undone.
Result<size_t> cleanup(const config::ClientConfig& cfg);

}  // namespace ptun::netcfg
