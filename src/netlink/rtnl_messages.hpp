// Sans-I/O rtnetlink codecs: build_* write one request into a caller's buffer, decode_* turn one
// kernel message into a value type. No socket here, so both sides are unit-tested and fuzzable;
// rtnl.cpp only adds the sequence number, sends, and feeds replies to the decoders.
//
// Every request built here carries NLM_F_REQUEST, and NLM_F_ACK unless it is a dump, so a
// transaction always ends with NLMSG_ERROR (ack or error) or NLMSG_DONE. nlmsg_seq/pid are 0.
#pragma once
#include <linux/netlink.h>

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/result.hpp"
#include "netlink/rtnl_types.hpp"

namespace ptun::netlink {

// One request: enough for the largest message ptun builds (a route with every attribute is < 200
// bytes). Builders fail with Errc::limit rather than write past it.
struct RequestBuf {
  static constexpr size_t kSize = 512;
  alignas(8) uint8_t bytes[kSize];
};

enum class Op : uint8_t {
  add,      // NLM_F_CREATE | NLM_F_EXCL: the kernel answers EEXIST if present
  replace,  // NLM_F_CREATE | NLM_F_REPLACE
  del,
};

// Links. Exactly one of ifindex (> 0) / name (non-empty) selects the link for get.
Result<nlmsghdr*> build_link_get(RequestBuf& buf, int ifindex, std::string_view name);
nlmsghdr* build_link_dump(RequestBuf& buf);
// RTM_NEWLINK on an existing link: changes only IFF_UP (if set_up) and the MTU (if mtu > 0).
Result<nlmsghdr*> build_link_change(RequestBuf& buf, int ifindex, std::optional<bool> set_up,
                                    uint32_t mtu);
Result<nlmsghdr*> build_link_del(RequestBuf& buf, int ifindex);

// Addresses: RTM_NEWADDR (Op::add or Op::replace) / RTM_DELADDR. IPv6 addresses are added with
// IFA_F_NODAD so they are usable at once (no duplicate detection on a point-to-point TUN).
Result<nlmsghdr*> build_addr(RequestBuf& buf, Op op, int ifindex, const Cidr& iface_addr);
nlmsghdr* build_addr_dump(RequestBuf& buf, Family family);

// Routes: RTM_NEWROUTE / RTM_DELROUTE. Errc::invalid_argument if dst has no family, gateway or
// prefsrc is of another family, the prefix is too long, or a unicast route has neither ifindex
// nor gateway (add/replace only).
Result<nlmsghdr*> build_route(RequestBuf& buf, Op op, const Route& r);
nlmsghdr* build_route_dump(RequestBuf& buf, Family family);
// RTM_GETROUTE for one address (with RTM_F_LOOKUP_TABLE so the reply names the table it came from).
// ipproto/dport (0: unset) make the lookup see what rules matching "ipproto"/"dport" see
// (RTA_IP_PROTO, RTA_DPORT: Linux 4.17+), as one UDP or TCP packet would.
Result<nlmsghdr*> build_route_get(RequestBuf& buf, const IpAddr& dst, uint32_t fwmark, uint8_t ipproto = 0,
                                  uint16_t dport = 0);

// FIB rules: RTM_NEWRULE (Op::add; the kernel has no replace for rules) / RTM_DELRULE.
Result<nlmsghdr*> build_rule(RequestBuf& buf, Op op, const Rule& r);
nlmsghdr* build_rule_dump(RequestBuf& buf, Family family);

// A whole message of at least a header fits in the `len` bytes left. Use this, not mnl_nlmsg_ok:
// libmnl compares (int)nlmsg_len <= len, so a length >= 2^31 passes, MNL_ALIGN of it wraps to 0
// and a mnl_nlmsg_next loop never advances (found by fuzz_rtnl_decode).
inline bool message_ok(const nlmsghdr* nlh, int len) {
  return len >= int(sizeof(nlmsghdr)) && nlh->nlmsg_len >= sizeof(nlmsghdr) && nlh->nlmsg_len <= unsigned(len);
}

// Decoders take one message of the matching type (RTM_NEWLINK etc.) whose nlmsg_len has been
// checked by the caller (message_ok). Errc::protocol for a truncated or malformed message.
// Routes with RTA_MULTIPATH report their first next hop only.
Result<LinkInfo> decode_link(const nlmsghdr* nlh);
Result<AddrInfo> decode_addr(const nlmsghdr* nlh);
Result<Route> decode_route(const nlmsghdr* nlh);
Result<Rule> decode_rule(const nlmsghdr* nlh);

// An NLMSG_ERROR message as an Error (what: strerror (kernel's extended-ack text)), or ok() for an
// ack (error 0). errno values map to Errc: EEXIST -> exists; ENOENT, ESRCH, ENODEV, EADDRNOTAVAIL
// -> not_found; EINVAL, ERANGE -> invalid_argument; EOPNOTSUPP, EAFNOSUPPORT -> unsupported;
// anything else -> io.
Result<void> decode_error(const nlmsghdr* nlh, const char* what);
Errc errc_from_errno(int errnum);

}  // namespace ptun::netlink
