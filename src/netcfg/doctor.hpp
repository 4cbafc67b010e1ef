// `ptun doctor` (issue 16 item 3), the judging half: pure checks over facts that cli/cmd_doctor.cpp
// gathers from a running client (its status, the kernel's route lookups, the nftables table, the
// host's resolvers, the certificate, DF pings through the tunnel). One Check per question; a
// failed check is a finding (exit 1). Probes are route lookups (RTM_GETROUTE with the protocol
// and port a packet would carry, unmarked as an app's traffic is), never packets to the internet.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/net_addr.hpp"

namespace ptun::netcfg::doctor {

// What the kernel answered for one probe.
struct Lookup {
  std::string what;          // "udp 192.0.2.1:443", "dns 10.99.0.1"
  IpAddr dst;
  bool found = false;        // the lookup answered at all
  bool unicast = true;       // false: unreachable/blackhole/prohibit (fails closed, not a leak)
  int ifindex = 0;
  std::string ifname;
};

struct Facts {
  std::string state;                           // the client's; checks need "connected"
  int tun_ifindex = 0;
  std::string tun_iface;
  bool full_tunnel = false;                    // a default route goes into the tunnel
  bool kill_switch_wanted = false;             // include_all_networks
  std::optional<bool> kill_switch_present;     // nullopt: not checked
  std::string kill_switch_table, kill_switch_error;
  std::vector<std::string> overrides;          // leaking route overrides (status: route_overrides)
  size_t overrides_dropped = 0;                // overrides the kill switch drops
  std::vector<IpAddr> pushed_dns;
  std::vector<Lookup> resolvers;               // the host's (resolv.conf), looked up as UDP 53
  std::vector<Lookup> probes;                  // destinations that must go through the tunnel
  std::optional<int64_t> cert_not_after;
  std::string cert_error;
  int64_t now = 0;
  uint32_t tun_mtu = 0;
  std::optional<uint32_t> mtu_crossed;         // largest DF packet that crossed (0: none)
  std::string mtu_note;                        // why it was not measured
  std::optional<uint32_t> mtu6_crossed;        // the same over IPv6 (ICMPv6 echo)
  std::string mtu6_note;
  std::optional<int64_t> clock_skew;           // the server's clock minus ours (s); nullopt: not sent
  struct DnsAnswer {
    IpAddr server;
    std::string name;   // what was asked
    bool answered = false;
    uint8_t rcode = 0;
    uint32_t ms = 0;
    std::string error;
  };
  std::vector<DnsAnswer> dns_answers;          // a real query to each of the host's resolvers
};

enum class Outcome { ok, fail, skipped };
struct Check {
  std::string name;
  Outcome result = Outcome::ok;
  std::string detail;
};

inline constexpr int64_t kCertWarnSecs = 14 * 86400;   // a certificate this close to expiry is a finding
inline constexpr int64_t kSkewWarnSecs = 120;          // clocks further apart than this are a finding

std::vector<Check> evaluate(const Facts& f);
// A certificate's expiry as a check (client and server): a finding when unreadable (`error`),
// expired (`expired_note` appended), or within kCertWarnSecs.
Check check_expiry(const std::optional<int64_t>& not_after, const std::string& error, int64_t now, const std::string& whose,
                   const std::string& expired_note = "");
size_t findings(const std::vector<Check>& checks);
const char* to_string(Outcome r);

// An address inside `included` for a route lookup: for a default route a documentation address
// (192.0.2.1, 2001:db8::1; nothing is sent), else the prefix's first host (network + 1 below /31).
IpAddr probe_address(const Cidr& included);

}  // namespace ptun::netcfg::doctor
