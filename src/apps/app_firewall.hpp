// The nftables ruleset behind per-app routing (sans-I/O: text for `nft -f -`), in its own table
// so that it never touches the kill switch's table.
//
// Routing stays the kernel's: the tunnel's routes and rules are left exactly as netcfg installs
// them (a default route in ptun's table behind "not fwmark M"). Sockets that must NOT use the
// tunnel (mode only: every socket not matched; mode except: the matched ones) get ptun's own
// fwmark M on their packets in a `type route` output chain, so the kernel re-routes them exactly
// like ptun's own datagrams: through the host's original path. Their connections also carry a ct
// mark: replies get the mark back in prerouting (strict reverse-path filtering with
// src_valid_mark), and they are masqueraded when they leave by another interface than the TUN (the
// socket chose its source address on the tunnel's route). With include_all_networks they are
// dropped instead (counted in the named counter `blocked`): apps outside the VPN are blocked, not
// leaked. The block chain hooks postrouting, not output: after a mark re-routes a packet, later
// output chains still see the interface of the first route (nft's oifname is the hook's, not the
// packet's new one), so only postrouting knows where the packet really leaves.
//
// The mark only steers lookups that reach ptun's table (the default route, "not fwmark M"):
// a non-default included route sits in the main table, so a bypassing app's packets to such a
// prefix still enter the TUN, where ptun drops and counts them (never leaked, but not carried
// around the tunnel either). A configured `cgroup` must exist when the rules load (nft resolves
// the path to the group's id then); the `ptun exec` groups are created by the client first.
//
// Matching by uid is `meta skuid`, by cgroup `socket cgroupv2 level N "PATH"`; executable paths
// cannot be matched by the kernel: those are enforced in userspace on the flows that reach the
// TUN (drop + count). Every rule also gets its `ptun exec` cgroup /ptun/NAME when the cgroup v2
// hierarchy is known.
#pragma once
#include <optional>
#include <string>

#include "apps/app_rules.hpp"
#include "apps/cgroup.hpp"

namespace ptun::apps {

struct FirewallSpec {
  std::string table;         // per instance: netcfg::instance_nft_table(ifname, "apps")
  std::string tun_iface;
  uint32_t fwmark = 0;       // ptun's own mark: "route like ptun's own datagrams"
  uint32_t ct_mark = 0;      // marks bypassing connections (replies, masquerade, block)
  bool block_bypass = false; // include_all_networks: drop instead of routing around the tunnel
  std::optional<CgroupMount> cgroup2;   // nullopt: cgroup rules cannot be expressed
};

// The script (hostio::NftTable: add + delete + the table, so it replaces any previous one
// atomically; removed with hostio::nft_remove_table_script). Errc::unsupported if a rule names a
// cgroup but no cgroup v2 hierarchy is known; Errc::invalid_argument for a name or path nft
// cannot take.
Result<std::string> firewall_script(const RuleSet& rules, const FirewallSpec& spec);

}  // namespace ptun::apps
