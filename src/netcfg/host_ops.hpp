// The host operations netcfg performs, behind one narrow interface so that the transactional
// logic (host_config.hpp: journal, rollback, replay) is tested with a fake that records calls and
// fails on demand. SystemOps is the real one: rtnetlink, `nft -f -`, files, resolvectl.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "netlink/rtnl.hpp"

namespace ptun::netcfg {

class HostOps {
 public:
  virtual ~HostOps() = default;
  virtual Result<void> route_add(const netlink::Route& r) = 0;   // replace semantics
  virtual Result<void> route_del(const netlink::Route& r) = 0;   // Errc::not_found if absent
  virtual Result<void> rule_add(const netlink::Rule& r) = 0;
  virtual Result<void> rule_del(const netlink::Rule& r) = 0;     // Errc::not_found if absent
  virtual Result<void> nft(const std::string& script) = 0;       // one atomic transaction
  // The file's bytes, std::nullopt if it does not exist. Errc::io.
  virtual Result<std::optional<std::string>> read_file(const std::string& path) = 0;
  // Rewrites the file in place (truncate + write + fsync): /etc/resolv.conf may be a bind mount
  // (ip netns exec) or a symlink's target, so it is never replaced by rename.
  virtual Result<void> write_file(const std::string& path, const std::string& data) = 0;
  virtual Result<void> remove_file(const std::string& path) = 0;
  virtual Result<void> run(const std::vector<std::string>& argv) = 0;   // exit 0 or Errc::io
};

class SystemOps final : public HostOps {
 public:
  explicit SystemOps(netlink::Rtnl& rtnl) : rtnl_(rtnl) {}
  Result<void> route_add(const netlink::Route& r) override { return rtnl_.route_replace(r); }
  Result<void> route_del(const netlink::Route& r) override { return rtnl_.route_del(r); }
  Result<void> rule_add(const netlink::Rule& r) override { return rtnl_.rule_add(r); }
  Result<void> rule_del(const netlink::Rule& r) override { return rtnl_.rule_del(r); }
  Result<void> nft(const std::string& script) override;
  Result<std::optional<std::string>> read_file(const std::string& path) override;
  Result<void> write_file(const std::string& path, const std::string& data) override;
  Result<void> remove_file(const std::string& path) override;
  Result<void> run(const std::vector<std::string>& argv) override;

 private:
  netlink::Rtnl& rtnl_;
};

// Runs argv (argv[0] as given if it holds a '/', else looked up in /usr/sbin, /sbin, /usr/bin,
// /bin) with `input` on stdin; its stdout and stderr are read until EOF (a daemon it starts must
// not keep them open). Errc::io with its stderr if it cannot start or exits non-zero.


// systemd-resolved is running (its varlink socket exists).
bool resolved_running();

// What the client's host side asks the kernel before it plans (client_host.hpp), behind an
// interface for the same reason as HostOps: tests answer with a fake.
class HostProbe {
 public:
  virtual ~HostProbe() = default;
  virtual Result<std::vector<netlink::AddrInfo>> addrs() = 0;
  virtual Result<netlink::Route> route_get(const IpAddr& dst, uint32_t fwmark) = 0;
  virtual bool resolved_running() = 0;
};

class SystemProbe final : public HostProbe {
 public:
  explicit SystemProbe(netlink::Rtnl& rtnl) : rtnl_(rtnl) {}
  Result<std::vector<netlink::AddrInfo>> addrs() override { return rtnl_.addrs(); }
  Result<netlink::Route> route_get(const IpAddr& dst, uint32_t fwmark) override { return rtnl_.route_get(dst, fwmark); }
  bool resolved_running() override { return netcfg::resolved_running(); }

 private:
  netlink::Rtnl& rtnl_;
};

}  // namespace ptun::netcfg
