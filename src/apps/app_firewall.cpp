#include "apps/app_firewall.hpp"

#include <cstdio>

namespace ptun::apps {

namespace {
std::string hex(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%x", unsigned(v));
  return b;
}
// nft quoted string: the config validated names and paths; refuse quotes and control characters
// rather than escaping them.
bool quotable(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f) return false;
  return true;
}
}  // namespace

Result<std::string> firewall_script(const RuleSet& rules, const FirewallSpec& spec) {
  if (!quotable(spec.tun_iface)) return Error(Errc::invalid_argument, "bad interface name");
  const std::string M = hex(spec.fwmark), C = hex(spec.ct_mark), tun = "\"" + spec.tun_iface + "\"";
  std::string match;   // one line per selector: "<selector> goto matched"
  for (const auto& r : rules.rules()) {
    if (r.uid) match += "    meta skuid " + std::to_string(*r.uid) + " goto matched\n";
    std::vector<std::string> groups;
    if (!r.cgroup.empty()) {
      if (!spec.cgroup2)
        return Error(Errc::unsupported, "app_rule '" + r.name + "': cgroup = \"" + r.cgroup +
                                            "\" needs a cgroup v2 hierarchy, and none is mounted");
      groups.push_back(r.cgroup);
    }
    if (spec.cgroup2) groups.push_back(exec_cgroup(r.name));
    for (const auto& g : groups) {
      if (!quotable(g)) return Error(Errc::invalid_argument, "app_rule '" + r.name + "': bad cgroup path");
      NftCgroup n = nft_cgroup(*spec.cgroup2, g);
      match += "    socket cgroupv2 level " + std::to_string(n.level) + " \"" + n.path + "\" goto matched\n";
    }
  }
  bool only = rules.mode() == Mode::only;
  const std::string bypass = "ct mark set " + C + " meta mark set " + M + "\n";
  std::string s;
  s += "add table inet " + spec.table + "\n";
  s += "delete table inet " + spec.table + "\n";
  s += "table inet " + spec.table + " {\n";
  s += "  counter blocked {}\n";
  s += "  counter bypassed {}\n";
  // mangle priority, type route: a changed mark makes the kernel route the packet again
  s += "  chain output {\n    type route hook output priority mangle; policy accept;\n";
  s += "    meta mark " + M + " return\n";   // ptun's own datagrams
  s += "    oifname \"lo\" return\n";
  s += "    ct mark " + C + " meta mark set " + M + " return\n";   // a bypassing connection
  s += match;
  s += only ? "    counter name bypassed " + bypass : "    return\n";
  s += "  }\n";
  s += "  chain matched {\n";
  s += only ? "    return\n" : "    counter name bypassed " + bypass;
  s += "  }\n";
  s += "  chain restore {\n    type filter hook prerouting priority mangle; policy accept;\n";
  s += "    ct mark " + C + " meta mark set " + M + "\n  }\n";
  if (spec.block_bypass) {
    s += "  chain block {\n    type filter hook postrouting priority filter - 20; policy accept;\n";
    s += "    ct mark " + C + " oifname != " + tun + " oifname != \"lo\" counter name blocked drop\n  }\n";
  } else {
    s += "  chain nat {\n    type nat hook postrouting priority srcnat; policy accept;\n";
    s += "    ct mark " + C + " oifname != " + tun + " oifname != \"lo\" masquerade\n  }\n";
  }
  s += "}\n";
  return s;
}

std::string firewall_remove_script(const std::string& table) {
  return "add table inet " + table + "\ndelete table inet " + table + "\n";
}

}  // namespace ptun::apps
