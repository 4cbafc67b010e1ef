#include "server/host_setup.hpp"

#include "common/log.hpp"
#include "hostio/nft_script.hpp"
#include "hostio/process.hpp"
#include "hostio/sysctl.hpp"

namespace ptun::server {

std::string masquerade_table(const std::string& tun_iface) {
  std::string table = "ptun_" + tun_iface;
  for (auto& c : table)
    if (c == '-' || c == '.') c = '_';
  return table;
}

Result<void> HostSetup::enable_forwarding(bool v4, bool v6) {
  std::vector<std::string> paths;
  if (v4) paths.push_back("net.ipv4.ip_forward");
  if (v6) paths.push_back("net.ipv6.conf.all.forwarding");
  for (const auto& p : paths) {
    auto old = hostio::read_sysctl(p);
    if (!old) return old.error();
    if (*old == "1") continue;
    if (auto r = hostio::write_sysctl(p, "1"); !r) return r;
    sysctls_.push_back({p, *old});
    LOG_INFO("server: enabled forwarding (%s)", p.c_str());
  }
  return {};
}

Result<void> HostSetup::set_sysctl(const std::string& name, const std::string& value) {
  auto old = hostio::read_sysctl(name);
  if (!old) return old.error();
  if (*old == value) return {};
  if (auto r = hostio::write_sysctl(name, value); !r) return r;
  sysctls_.push_back({name, *old});
  return {};
}

Result<std::string> masquerade_script(const std::string& table, const std::string& tun_iface,
                                      const std::vector<Cidr>& pools, const std::vector<std::string>& out_ifaces) {
  // recreate: replaces a leftover table from a crashed run atomically
  hostio::NftTable t(table, hostio::NftReplace::recreate);
  t.chain("postrouting", "type nat hook postrouting priority srcnat; policy accept;");
  for (const auto& p : pools) {
    const std::string saddr = std::string(p.addr.is_v4() ? "ip" : "ip6") + " saddr " + p.str();
    if (out_ifaces.empty()) t.rule(saddr + " oifname != " + t.quote(tun_iface) + " masquerade");
    for (const auto& o : out_ifaces) t.rule(saddr + " oifname " + t.quote(o) + " masquerade");
  }
  return t.script();
}

Result<void> HostSetup::enable_masquerade(const std::string& table, const std::string& tun_iface,
                                          const std::vector<Cidr>& pools,
                                          const std::vector<std::string>& out_ifaces) {
  auto script = masquerade_script(table, tun_iface, pools, out_ifaces);
  if (!script) return script.error();
  if (auto r = hostio::run_nft(*script); !r) return r;
  nft_table_ = table;
  LOG_INFO("server: masquerade on (nftables table inet %s)", table.c_str());
  return {};
}

void HostSetup::undo() {
  if (!nft_table_.empty()) {
    auto r = hostio::remove_nft_table(nft_table_);
    if (!r) LOG_WARN("server: removing nftables table %s: %s", nft_table_.c_str(), r.error().message.c_str());
    nft_table_.clear();
  }
  for (auto it = sysctls_.rbegin(); it != sysctls_.rend(); ++it) {
    auto r = hostio::write_sysctl(it->path, it->old_value);
    if (!r) LOG_WARN("server: restoring %s: %s", it->path.c_str(), r.error().message.c_str());
  }
  sysctls_.clear();
}

}  // namespace ptun::server
