// The server's changes to its host (its own network namespace): IP forwarding and, when
// configured, masquerade through nftables. Each change remembers how to undo itself; undo()
// restores exactly what was there before.
#pragma once
#include <string>
#include <vector>

#include "common/net_addr.hpp"
#include "common/result.hpp"

namespace ptun::server {

// The nftables table of the server's masquerade: "ptun_" + the TUN's name, '-' and '.' as '_'
// (ptun-s0 -> ptun_ptun_s0). `ptun doctor` looks for it under the same name.
std::string masquerade_table(const std::string& tun_iface);

// The masquerade's script (hostio::NftTable, replacing a table of that name): table inet <table>
// with a postrouting NAT chain masquerading the pools' sources leaving through any interface but
// the tunnel's (or only through `out_ifaces` when given). Errc::invalid_argument for a name nft
// cannot take.
Result<std::string> masquerade_script(const std::string& table, const std::string& tun_iface,
                                      const std::vector<Cidr>& pools, const std::vector<std::string>& out_ifaces);

class HostSetup {
 public:
  ~HostSetup() { undo(); }
  // Turns on forwarding for the pools' families (remembering the previous values).
  Result<void> enable_forwarding(bool v4, bool v6);
  // Sets one sysctl (e.g. net.ipv4.conf.all.send_redirects), remembering the previous value for
  // undo(); nothing is written when it already has `value`.
  Result<void> set_sysctl(const std::string& name, const std::string& value);
  // masquerade_script's table, installed in one atomic nftables transaction (nft -f).
  Result<void> enable_masquerade(const std::string& table, const std::string& tun_iface,
                                 const std::vector<Cidr>& pools, const std::vector<std::string>& out_ifaces);
  void undo();

 private:
  struct Sysctl {
    std::string path, old_value;   // path: the sysctl's name (net.ipv4.ip_forward)
  };
  std::vector<Sysctl> sysctls_;
  std::string nft_table_;
};

}  // namespace ptun::server
