// Per-app VPN rules (sans-I/O): which application a flow belongs to, whether the configured
// [[app_rule]] entries match it, and whether its packets may use the tunnel. The kernel does the
// routing (nftables marks, see app_firewall.hpp); this is the second line: a flow whose owner must
// not use the tunnel but reached it anyway (an executable-path rule the kernel cannot see, a
// socket opened before the rules were installed) is dropped and counted, never re-injected.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/net_addr.hpp"
#include "config/config.hpp"

namespace ptun::apps {

enum class Mode : uint8_t { none, only, except };

// Who owns a flow. `unknown` is an honest "could not tell" (no socket found, the process went
// away, ICMP): it is never guessed from anything else.
struct Identity {
  enum class Kind : uint8_t { unknown, process, lan };
  Kind kind = Kind::unknown;
  uint32_t uid = UINT32_MAX;   // process: the socket's uid (from sock_diag); unknown may carry it
  std::string exe;             // process: /proc/PID/exe, "" if unreadable
  std::string cgroup;          // process: cgroup v2 path ("0::" line of /proc/PID/cgroup)
  IpAddr lan;                  // lan: the forwarded flow's source address
  bool operator==(const Identity&) const = default;
  std::string label() const;   // "firefox (uid 1000)", "lan 192.168.1.7", "unknown"
};

// The cgroup `ptun exec --app NAME` puts commands in, relative to the cgroup v2 root.
std::string exec_cgroup(const std::string& app_name);

class RuleSet {
 public:
  RuleSet() = default;
  explicit RuleSet(const std::vector<config::AppRule>& rules);
  Mode mode() const { return mode_; }
  bool empty() const { return rules_.empty(); }
  const std::vector<config::AppRule>& rules() const { return rules_; }
  // Index of the first rule matching a process identity, or -1. Only process identities match.
  int match(const Identity& id) const;
  // May a flow of this owner use the tunnel? No rules: yes. Unknown owners and LAN hosts: yes
  // (the kernel's routing already decided; ptun does not guess). Otherwise by mode.
  bool allowed(const Identity& id) const;

 private:
  Mode mode_ = Mode::none;
  std::vector<config::AppRule> rules_;
};

// `cgroup` equals `prefix` or lies below it ("/a/b" is under "/a", "/ab" is not).
bool cgroup_under(const std::string& cgroup, const std::string& prefix);

}  // namespace ptun::apps
