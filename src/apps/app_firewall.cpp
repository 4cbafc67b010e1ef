#include "apps/app_firewall.hpp"

#include "hostio/nft_script.hpp"

namespace ptun::apps {

Result<std::string> firewall_script(const RuleSet& rules, const FirewallSpec& spec) {
  using hostio::nft_hex;
  // recreate, not flush: the named counters of an earlier version go too
  hostio::NftTable t(spec.table, hostio::NftReplace::recreate);
  const std::string M = nft_hex(spec.fwmark), C = nft_hex(spec.ct_mark), tun = t.quote(spec.tun_iface);
  std::vector<std::string> match;   // one rule per selector: "<selector> goto matched"
  for (const auto& r : rules.rules()) {
    if (r.uid) match.push_back("meta skuid " + std::to_string(*r.uid) + " goto matched");
    std::vector<std::string> groups;
    if (!r.cgroup.empty()) {
      if (!spec.cgroup2)
        return Error(Errc::unsupported, "app_rule '" + r.name + "': cgroup = \"" + r.cgroup +
                                            "\" needs a cgroup v2 hierarchy, and none is mounted");
      groups.push_back(r.cgroup);
    }
    if (spec.cgroup2) groups.push_back(exec_cgroup(r.name));
    for (const auto& g : groups) {
      if (!hostio::nft_quotable(g)) return Error(Errc::invalid_argument, "app_rule '" + r.name + "': bad cgroup path");
      NftCgroup n = nft_cgroup(*spec.cgroup2, g);
      match.push_back("socket cgroupv2 level " + std::to_string(n.level) + " " + t.quote(n.path) + " goto matched");
    }
  }
  bool only = rules.mode() == Mode::only;
  const std::string bypass = "counter name bypassed ct mark set " + C + " meta mark set " + M;
  t.counter("blocked").counter("bypassed");
  // mangle priority, type route: a changed mark makes the kernel route the packet again
  t.chain("output", "type route hook output priority mangle; policy accept;")
      .rule("meta mark " + M + " return")   // ptun's own datagrams
      .rule("oifname \"lo\" return")
      .rule("ct mark " + C + " meta mark set " + M + " return");   // a bypassing connection
  for (const auto& m : match) t.rule(m);
  t.rule(only ? bypass : "return");
  t.chain("matched").rule(only ? "return" : bypass);
  t.chain("restore", "type filter hook prerouting priority mangle; policy accept;")
      .rule("ct mark " + C + " meta mark set " + M);
  if (spec.block_bypass) {
    t.chain("block", "type filter hook postrouting priority filter - 20; policy accept;")
        .rule("ct mark " + C + " oifname != " + tun + " oifname != \"lo\" counter name blocked drop");
  } else {
    t.chain("nat", "type nat hook postrouting priority srcnat; policy accept;")
        .rule("ct mark " + C + " oifname != " + tun + " oifname != \"lo\" masquerade");
  }
  return t.script();
}

}  // namespace ptun::apps
