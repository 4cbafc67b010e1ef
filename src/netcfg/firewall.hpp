// nftables rulesets ptun installs on the client host (sans-I/O: text for `nft -f -`).
//
// Kill switch (include_all_networks): table inet <name>, output and forward chains with policy
// drop. Allowed: loopback, the TUN, ptun's own datagrams to the VPN server (fwmark AND server
// address AND port), DHCPv4/DHCPv6 client traffic, router/neighbour solicitation and
// advertisement, and (exclude_local_networks) the directly connected private networks. While the
// server is a name never resolved yet (no address), DNS (port 53, UDP and TCP) to the system's
// resolvers instead: the lookup that finds the server must get out, and nothing else does.
// Forwarded traffic (a LAN routed through this host) may only leave through the TUN.
//
// Enforced routes (enforce_routes without include_all_networks): an output chain with policy
// accept that drops traffic to an included prefix leaving through any other interface and
// traffic to an excluded prefix entering the TUN, whatever interface an app bound to.
//
// Both are written with hostio::NftTable ("add table" + "flush table", then the chains): one
// `nft -f` transaction replaces the previous ruleset atomically.
#pragma once
#include <string>
#include <vector>

#include "common/net_addr.hpp"
#include "common/result.hpp"

namespace ptun::netcfg {

// The nftables table of one client instance, named after its TUN interface so that two clients
// on one host (ptun0, ptun1) never share a table: "ptun_" + the name, lowercased, with '.' and
// '-' as '_' and, when that changed anything, 4 hex digits of a hash of the original (ptun-0 and
// ptun_0 stay apart). `suffix` ("apps") names a second table of the same instance. The result is
// always a valid ptun table name (journal.hpp: is_ptun_nft_name). `ifname` must be valid_ifname.
std::string instance_nft_table(const std::string& ifname, const std::string& suffix = "");

struct KillSwitchSpec {
  std::string table;
  std::string tun_iface;
  uint32_t fwmark = 0;
  Endpoint server;
  uint16_t server_tcp_port = 0;       // the TCP fallback transport's port (0: none)
  std::vector<Cidr> local_networks;   // allowed outside the tunnel (exclude_local_networks)
  std::vector<IpAddr> resolvers;      // port 53 to these while `server` has no address
};

struct EnforceSpec {
  std::string table;
  std::string tun_iface;
  uint32_t fwmark = 0;
  std::vector<Cidr> included, excluded, connected;   // connected: host routes that keep precedence
};

// Errc::invalid_argument for a table or interface name nft cannot take (see valid_ifname).
Result<std::string> killswitch_script(const KillSwitchSpec& s);
Result<std::string> enforce_script(const EnforceSpec& s);

// Interface names as nft accepts them in a quoted string: 1..15 bytes of [A-Za-z0-9_.-].
bool valid_ifname(const std::string& name);

}  // namespace ptun::netcfg
