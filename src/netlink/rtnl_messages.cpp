// Request builders (see rtnl_messages.hpp). Attributes go through libmnl's *_check variants so a
// request can never run past RequestBuf; field choices follow what iproute2 sends for the same
// command, so the kernel treats ptun's requests exactly like "ip route/rule/addr/link".
#include "netlink/rtnl_messages.hpp"

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <netinet/in.h>

#include <cstring>

namespace ptun::netlink {

uint8_t to_af(Family f) {
  return f == Family::v4 ? AF_INET : f == Family::v6 ? AF_INET6 : AF_UNSPEC;
}

Family from_af(uint8_t af) {
  return af == AF_INET ? Family::v4 : af == AF_INET6 ? Family::v6 : Family::none;
}

namespace {

constexpr size_t kBufLen = RequestBuf::kSize;

Error invalid(const std::string& what) { return Error(Errc::invalid_argument, what); }
Error too_big() { return Error(Errc::limit, "netlink request does not fit its buffer"); }

uint16_t op_flags(Op op) {
  switch (op) {
    case Op::add: return NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    case Op::replace: return NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    case Op::del: return NLM_F_REQUEST | NLM_F_ACK;
  }
  return NLM_F_REQUEST | NLM_F_ACK;
}

nlmsghdr* start(RequestBuf& buf, uint16_t type, uint16_t flags) {
  std::memset(buf.bytes, 0, sizeof buf.bytes);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.bytes);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = flags;
  return nlh;
}

template <typename T>
T* extra(nlmsghdr* nlh) {
  return static_cast<T*>(mnl_nlmsg_put_extra_header(nlh, sizeof(T)));
}

bool put_addr(nlmsghdr* nlh, uint16_t type, const IpAddr& a) {
  return mnl_attr_put_check(nlh, kBufLen, type, a.size(), a.bytes.data());
}

// Tables above 255 only fit the 32-bit attribute; the header then says RT_TABLE_UNSPEC.
uint8_t header_table(uint32_t table) { return table < 256 ? uint8_t(table) : uint8_t(RT_TABLE_UNSPEC); }

}  // namespace

Result<nlmsghdr*> build_link_get(RequestBuf& buf, int ifindex, std::string_view name) {
  if ((ifindex > 0) == !name.empty()) return invalid("link get: give an ifindex or a name");
  if (name.size() >= IFNAMSIZ) return invalid("interface name too long: " + std::string(name));
  nlmsghdr* nlh = start(buf, RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK);
  auto* ifi = extra<ifinfomsg>(nlh);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex > 0 ? ifindex : 0;
  if (!name.empty()) {
    char name_z[IFNAMSIZ] = {};
    std::memcpy(name_z, name.data(), name.size());
    if (!mnl_attr_put_strz_check(nlh, kBufLen, IFLA_IFNAME, name_z)) return too_big();
  }
  if (!mnl_attr_put_u32_check(nlh, kBufLen, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)) return too_big();
  return nlh;
}

nlmsghdr* build_link_dump(RequestBuf& buf) {
  nlmsghdr* nlh = start(buf, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP);
  extra<ifinfomsg>(nlh)->ifi_family = AF_UNSPEC;
  mnl_attr_put_u32_check(nlh, kBufLen, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);  // always fits
  return nlh;
}

Result<nlmsghdr*> build_link_change(RequestBuf& buf, int ifindex, std::optional<bool> set_up,
                                    uint32_t mtu) {
  if (ifindex <= 0) return invalid("link change: no ifindex");
  nlmsghdr* nlh = start(buf, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
  auto* ifi = extra<ifinfomsg>(nlh);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  if (set_up) {
    ifi->ifi_change = IFF_UP;  // only this flag changes; the others keep their value
    ifi->ifi_flags = *set_up ? IFF_UP : 0;
  }
  if (mtu > 0 && !mnl_attr_put_u32_check(nlh, kBufLen, IFLA_MTU, mtu)) return too_big();
  return nlh;
}

Result<nlmsghdr*> build_link_del(RequestBuf& buf, int ifindex) {
  if (ifindex <= 0) return invalid("link delete: no ifindex");
  nlmsghdr* nlh = start(buf, RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK);
  auto* ifi = extra<ifinfomsg>(nlh);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  return nlh;
}

Result<nlmsghdr*> build_addr(RequestBuf& buf, Op op, int ifindex, const Cidr& a) {
  if (ifindex <= 0) return invalid("address: no ifindex");
  if (a.addr.empty() || a.prefix > a.addr.size() * 8)
    return invalid("address: bad interface address " + a.str());
  nlmsghdr* nlh = start(buf, op == Op::del ? RTM_DELADDR : RTM_NEWADDR, op_flags(op));
  auto* ifa = extra<ifaddrmsg>(nlh);
  ifa->ifa_family = to_af(a.addr.family);
  ifa->ifa_prefixlen = a.prefix;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = uint32_t(ifindex);
  // IFA_LOCAL is the address itself, IFA_ADDRESS the peer (the same when there is none).
  if (!put_addr(nlh, IFA_LOCAL, a.addr) || !put_addr(nlh, IFA_ADDRESS, a.addr)) return too_big();
  if (a.addr.is_v6() && op != Op::del) {
    ifa->ifa_flags = IFA_F_NODAD;
    if (!mnl_attr_put_u32_check(nlh, kBufLen, IFA_FLAGS, IFA_F_NODAD)) return too_big();
  }
  return nlh;
}

nlmsghdr* build_addr_dump(RequestBuf& buf, Family family) {
  nlmsghdr* nlh = start(buf, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP);
  extra<ifaddrmsg>(nlh)->ifa_family = to_af(family);
  return nlh;
}

Result<nlmsghdr*> build_route(RequestBuf& buf, Op op, const Route& r) {
  const Family f = r.dst.addr.family;
  if (f == Family::none) return invalid("route: destination has no address family");
  if (r.dst.prefix > r.dst.addr.size() * 8 || !(r.dst.network() == r.dst))
    return invalid("route: bad destination prefix " + r.dst.str());
  if (r.gateway && r.gateway->family != f) return invalid("route: gateway family differs");
  if (r.prefsrc && r.prefsrc->family != f) return invalid("route: prefsrc family differs");
  if (op != Op::del && r.type == RTN_UNICAST && r.ifindex <= 0 && !r.gateway)
    return invalid("route: unicast route " + r.dst.str() + " needs an interface or a gateway");

  nlmsghdr* nlh = start(buf, op == Op::del ? RTM_DELROUTE : RTM_NEWROUTE, op_flags(op));
  auto* rtm = extra<rtmsg>(nlh);
  rtm->rtm_family = to_af(f);
  rtm->rtm_dst_len = r.dst.prefix;
  rtm->rtm_table = header_table(r.table);
  rtm->rtm_protocol = r.protocol ? r.protocol : kPtunRouteProto;
  rtm->rtm_type = r.type;
  // As iproute2: deletes match any scope; a unicast route without gateway is on-link.
  if (op == Op::del)
    rtm->rtm_scope = RT_SCOPE_NOWHERE;
  else if (r.type == RTN_UNICAST && !r.gateway)
    rtm->rtm_scope = RT_SCOPE_LINK;
  // A throw route is link scope too: the kernel resolves a new route's gateway with a lookup
  // through the rules that only sees link-scope routes, so a universe-scope throw in ptun's table
  // would be skipped and the gateway resolved to the TUN (protect_routes' rule comes first: a
  // DHCP route via the LAN's router would land on the TUN and vanish with it).
  else if (r.type == RTN_THROW)
    rtm->rtm_scope = RT_SCOPE_LINK;
  else
    rtm->rtm_scope = RT_SCOPE_UNIVERSE;

  bool fits = true;
  if (r.dst.prefix > 0) fits = fits && put_addr(nlh, RTA_DST, r.dst.addr);
  if (r.table != 0) fits = fits && mnl_attr_put_u32_check(nlh, kBufLen, RTA_TABLE, r.table);
  if (r.ifindex > 0) fits = fits && mnl_attr_put_u32_check(nlh, kBufLen, RTA_OIF, uint32_t(r.ifindex));
  if (r.gateway) fits = fits && put_addr(nlh, RTA_GATEWAY, *r.gateway);
  if (r.metric) fits = fits && mnl_attr_put_u32_check(nlh, kBufLen, RTA_PRIORITY, r.metric);
  if (r.prefsrc) fits = fits && put_addr(nlh, RTA_PREFSRC, *r.prefsrc);
  if (fits && r.mtu) {
    nlattr* nest = mnl_attr_nest_start_check(nlh, kBufLen, RTA_METRICS);
    fits = nest && mnl_attr_put_u32_check(nlh, kBufLen, RTAX_MTU, r.mtu);
    if (fits) mnl_attr_nest_end(nlh, nest);
  }
  if (!fits) return too_big();
  return nlh;
}

nlmsghdr* build_route_dump(RequestBuf& buf, Family family) {
  nlmsghdr* nlh = start(buf, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP);
  extra<rtmsg>(nlh)->rtm_family = to_af(family);
  return nlh;
}

Result<nlmsghdr*> build_route_get(RequestBuf& buf, const IpAddr& dst, uint32_t fwmark, uint8_t ipproto,
                                  uint16_t dport) {
  if (dst.empty()) return invalid("route get: no destination");
  nlmsghdr* nlh = start(buf, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_ACK);
  auto* rtm = extra<rtmsg>(nlh);
  rtm->rtm_family = to_af(dst.family);
  rtm->rtm_dst_len = uint8_t(dst.size() * 8);
  rtm->rtm_flags = RTM_F_LOOKUP_TABLE;
  bool fits = put_addr(nlh, RTA_DST, dst);
  if (fwmark) fits = fits && mnl_attr_put_u32_check(nlh, kBufLen, RTA_MARK, fwmark);
  if (ipproto) fits = fits && mnl_attr_put_u8_check(nlh, kBufLen, RTA_IP_PROTO, ipproto);
  if (dport) fits = fits && mnl_attr_put_u16_check(nlh, kBufLen, RTA_DPORT, htons(dport));
  if (!fits) return too_big();
  return nlh;
}

Result<nlmsghdr*> build_rule(RequestBuf& buf, Op op, const Rule& r) {
  if (r.family == Family::none) return invalid("rule: no address family");
  if (op == Op::replace) return Error(Errc::unsupported, "rule: the kernel cannot replace rules");
  if (op == Op::add && r.action == FR_ACT_TO_TBL && r.table == 0)
    return invalid("rule: a lookup rule needs a table");
  nlmsghdr* nlh = start(buf, op == Op::del ? RTM_DELRULE : RTM_NEWRULE, op_flags(op));
  auto* frh = extra<fib_rule_hdr>(nlh);
  frh->family = to_af(r.family);
  frh->table = header_table(r.table);
  frh->action = r.action;
  frh->flags = r.invert ? FIB_RULE_INVERT : 0;

  bool fits = mnl_attr_put_u32_check(nlh, kBufLen, FRA_PRIORITY, r.priority);
  if (r.table) fits = fits && mnl_attr_put_u32_check(nlh, kBufLen, FRA_TABLE, r.table);
  if (r.fwmark || r.fwmask) fits = fits && mnl_attr_put_u32_check(nlh, kBufLen, FRA_FWMARK, r.fwmark);
  if (r.fwmask) fits = fits && mnl_attr_put_u32_check(nlh, kBufLen, FRA_FWMASK, r.fwmask);
  if (r.suppress_prefixlen >= 0)
    fits = fits && mnl_attr_put_u32_check(nlh, kBufLen, FRA_SUPPRESS_PREFIXLEN,
                                          uint32_t(r.suppress_prefixlen));
  fits = fits && mnl_attr_put_u8_check(nlh, kBufLen, FRA_PROTOCOL,
                                       r.protocol ? r.protocol : kPtunRouteProto);
  if (!fits) return too_big();
  return nlh;
}

nlmsghdr* build_rule_dump(RequestBuf& buf, Family family) {
  nlmsghdr* nlh = start(buf, RTM_GETRULE, NLM_F_REQUEST | NLM_F_DUMP);
  extra<fib_rule_hdr>(nlh)->family = to_af(family);
  return nlh;
}

}  // namespace ptun::netlink
