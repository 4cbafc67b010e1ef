// Value types for rtnetlink: routes, FIB rules, links and addresses as ptun sees them.
// Pure data (no socket); rtnl_messages.hpp turns them into netlink requests and back.
#pragma once
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "common/net_addr.hpp"

namespace ptun::netlink {

// rtm_protocol / FRA_PROTOCOL value that marks routes and rules installed by ptun ('p' = 0x70 =
// 112; iproute2 shows it as "proto 112"). Values 0..4 are the kernel's own, 9..19 and 42+ are taken
// by routing daemons listed in /etc/iproute2/rt_protos; 112 is unassigned there. It lets a restart
// find and remove what a crashed ptun left behind without touching anyone else's routes.
inline constexpr uint8_t kPtunRouteProto = 0x70;
// The same for a cluster server's backbone routes toward the other servers' clients ("proto 113"):
// a table of their own is not needed, the protocol alone finds them after a crash.
inline constexpr uint8_t kPtunBackboneRouteProto = 0x71;

// The routing table ptun uses for its own policy routing (wg-quick style); defined here so client and
// server agree. Any value above 255 needs RTA_TABLE / FRA_TABLE, which the builders always send.
inline constexpr uint32_t kPtunRouteTable = 7074;

// Upper bound on the entries one dump returns (a full BGP table is ~1M routes: ask for one table).
inline constexpr size_t kMaxDumpEntries = 1 << 18;

struct Route {
  Cidr dst;                        // 0.0.0.0/0 allowed
  int ifindex = 0;                 // 0 = none (e.g. unreachable/throw types)
  std::optional<IpAddr> gateway;
  uint32_t table = RT_TABLE_MAIN;  // 254
  uint32_t metric = 0;             // IPv6: the kernel turns 0 into 1024 on add
  uint8_t type = RTN_UNICAST;      // RTN_UNICAST, RTN_THROW, RTN_BLACKHOLE, RTN_UNREACHABLE
  // 0 = kPtunRouteProto. On delete the protocol must match too, so deleting a Route built by hand
  // only ever removes ptun's own routes; a Route read back from routes() carries its real protocol.
  uint8_t protocol = 0;
  std::optional<IpAddr> prefsrc;
  uint32_t mtu = 0;                // RTAX_MTU metric if nonzero
  bool operator==(const Route&) const = default;
};

// One FIB rule ("ip rule").
struct Rule {
  Family family = Family::v4;
  uint32_t priority = 0;           // always sent: add and delete address one exact priority
  uint32_t table = 0;              // 0 = none (delete: any table)
  uint32_t fwmark = 0, fwmask = 0; // fwmask 0 = kernel default (0xffffffff when fwmark is set)
  bool invert = false;             // "not fwmark X"
  int suppress_prefixlen = -1;     // "suppress_prefixlength 0" as wg-quick; -1 = unset
  uint8_t action = FR_ACT_TO_TBL;
  uint8_t protocol = 0;            // 0 = kPtunRouteProto (as Route::protocol, also on delete)
  bool operator==(const Rule&) const = default;
};

struct LinkInfo {
  int ifindex = 0;
  std::string name;
  uint32_t mtu = 0;
  bool up = false;                 // administratively up (IFF_UP)
  uint32_t flags = 0;              // ifi_flags (IFF_*)
};

struct AddrInfo {
  int ifindex = 0;
  Cidr addr;                       // interface address with its prefix length (host bits kept)
  uint8_t scope = 0;               // RT_SCOPE_*
};

// AF_INET / AF_INET6 / AF_UNSPEC for a Family, and back (Family::none for anything else).
uint8_t to_af(Family f);
Family from_af(uint8_t af);

}  // namespace ptun::netlink
