// `ptun doctor` on a server (issue 16 item 3), the judging half: pure checks over facts that
// cli/doctor_server.cpp gathers (the server's status, the forwarding sysctls, ptun's masquerade
// table, the host's nftables ruleset as `nft -j` JSON, the certificate). The firewall checks are
// the "connected but no traffic" causes of docs/deploy.md: a base chain of another table that
// drops by default (input, forward) while no rule of that table names the tunnel interface or the
// listening port. A heuristic: it does not evaluate rules, and iptables-legacy rules are invisible
// to nft.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "netcfg/doctor.hpp"

namespace ptun::netcfg::doctor {

struct FirewallChain {
  std::string family, table, name, hook;   // "inet", "filter", "input", "input"
  bool drop_policy = false;
  bool table_names_iface = false;          // a rule of its table matches iifname/oifname == iface
  bool table_names_port = false;           // ... a destination port == port (or a set/range holding it)
};

// The input and forward base chains of `nft -j list ruleset`, except ptun's own tables (ptun_*).
// Errc::protocol when the text is not nft's JSON.
Result<std::vector<FirewallChain>> firewall_chains(std::string_view nft_json, const std::string& iface, uint16_t port);

struct ServerFacts {
  std::string status_error;                // empty: the server answered on its control socket
  size_t sessions = 0;
  bool kernel_forwarding = true;           // [tunnel] forwarding = "kernel"
  std::string tun_iface;
  uint16_t port = 0;                       // the first listen address's UDP port
  bool v4_pool = false, v6_pool = false;
  std::optional<bool> ip_forward, ip6_forward;   // nullopt: not readable
  bool masquerade_wanted = false;
  std::optional<bool> masquerade_present;
  std::string masquerade_table;
  bool dns_proxy_running = false;
  std::vector<FirewallChain> chains;
  std::string firewall_error;              // nft missing or its output unreadable
  std::optional<int64_t> cert_not_after;
  std::string cert_error;
  int64_t now = 0;
};

std::vector<Check> evaluate_server(const ServerFacts& f);

}  // namespace ptun::netcfg::doctor
