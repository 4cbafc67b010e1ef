// Decoders for kernel replies (see rtnl_messages.hpp). Every attribute's length is checked before
// it is read: a reply is trusted no more than any other input.
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>

#include <cerrno>
#include <cstring>

#include "netlink/rtnl_messages.hpp"

namespace ptun::netlink {

namespace {

constexpr uint16_t kMaxAttr = 64;  // above every IFLA_/IFA_/RTA_/FRA_ type we read

// Attributes of one message (or nest) by type; later duplicates win, unknown types are ignored.
struct Attrs {
  const nlattr* tb[kMaxAttr + 1] = {};
  const nlattr* operator[](uint16_t t) const { return t <= kMaxAttr ? tb[t] : nullptr; }
};

int collect(const nlattr* a, void* data) {
  uint16_t type = mnl_attr_get_type(a);
  if (type <= kMaxAttr) static_cast<Attrs*>(data)->tb[type] = a;
  return MNL_CB_OK;
}

Error malformed(const char* what) { return Error(Errc::protocol, std::string("malformed ") + what); }

// The fixed header after nlmsghdr, or nullptr if the message is too short for it.
template <typename T>
const T* header(const nlmsghdr* nlh) {
  if (nlh->nlmsg_len < NLMSG_HDRLEN || mnl_nlmsg_get_payload_len(nlh) < sizeof(T)) return nullptr;
  return static_cast<const T*>(mnl_nlmsg_get_payload(nlh));
}

template <typename T>
bool parse(const nlmsghdr* nlh, Attrs* out) {
  return mnl_attr_parse(nlh, sizeof(T), collect, out) >= MNL_CB_STOP;
}

bool get_u32(const nlattr* a, uint32_t* out) {
  if (!a) return true;  // absent: keep the default
  if (mnl_attr_get_payload_len(a) != 4) return false;
  *out = mnl_attr_get_u32(a);
  return true;
}

bool get_addr(const nlattr* a, Family f, std::optional<IpAddr>* out) {
  if (!a) return true;
  const auto* p = static_cast<const uint8_t*>(mnl_attr_get_payload(a));
  uint16_t len = mnl_attr_get_payload_len(a);
  if (f == Family::v4 && len == 4) *out = IpAddr::v4(p);
  else if (f == Family::v6 && len == 16) *out = IpAddr::v6(p);
  else return false;
  return true;
}

// First next hop of RTA_MULTIPATH: struct rtnexthop followed by its own attributes.
bool first_nexthop(const nlattr* mp, Family f, Route* r) {
  const auto* p = static_cast<const uint8_t*>(mnl_attr_get_payload(mp));
  size_t len = mnl_attr_get_payload_len(mp);
  if (len < sizeof(rtnexthop)) return len == 0;
  rtnexthop nh;
  std::memcpy(&nh, p, sizeof nh);
  if (nh.rtnh_len < sizeof(rtnexthop) || nh.rtnh_len > len) return false;
  r->ifindex = nh.rtnh_ifindex;
  size_t off = RTNH_ALIGN(sizeof(rtnexthop));
  while (off + sizeof(nlattr) <= nh.rtnh_len) {
    const auto* a = reinterpret_cast<const nlattr*>(p + off);
    if (a->nla_len < sizeof(nlattr) || off + a->nla_len > nh.rtnh_len) return false;
    if (mnl_attr_get_type(a) == RTA_GATEWAY && !get_addr(a, f, &r->gateway)) return false;
    off += MNL_ALIGN(a->nla_len);
  }
  return true;
}

}  // namespace

Result<LinkInfo> decode_link(const nlmsghdr* nlh) {
  const auto* ifi = header<ifinfomsg>(nlh);
  Attrs tb;
  if (!ifi || !parse<ifinfomsg>(nlh, &tb)) return malformed("link message");
  LinkInfo l;
  l.ifindex = ifi->ifi_index;
  l.flags = ifi->ifi_flags;
  l.up = (ifi->ifi_flags & IFF_UP) != 0;
  if (const nlattr* n = tb[IFLA_IFNAME]) {
    if (mnl_attr_validate(n, MNL_TYPE_NUL_STRING) < 0) return malformed("link name");
    l.name = mnl_attr_get_str(n);
  }
  if (!get_u32(tb[IFLA_MTU], &l.mtu)) return malformed("link MTU");
  return l;
}

Result<AddrInfo> decode_addr(const nlmsghdr* nlh) {
  const auto* ifa = header<ifaddrmsg>(nlh);
  Attrs tb;
  if (!ifa || !parse<ifaddrmsg>(nlh, &tb)) return malformed("address message");
  Family f = from_af(ifa->ifa_family);
  if (f == Family::none) return Error(Errc::unsupported, "address family not IPv4/IPv6");
  // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point links
  // (IPv6 usually sends only IFA_ADDRESS).
  std::optional<IpAddr> a;
  if (!get_addr(tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS], f, &a) || !a)
    return malformed("address");
  if (ifa->ifa_prefixlen > a->size() * 8) return malformed("address prefix length");
  return AddrInfo{int(ifa->ifa_index), Cidr{*a, ifa->ifa_prefixlen}, ifa->ifa_scope};
}

Result<Route> decode_route(const nlmsghdr* nlh) {
  const auto* rtm = header<rtmsg>(nlh);
  Attrs tb;
  if (!rtm || !parse<rtmsg>(nlh, &tb)) return malformed("route message");
  Family f = from_af(rtm->rtm_family);
  if (f == Family::none) return Error(Errc::unsupported, "route family not IPv4/IPv6");
  Route r;
  r.type = rtm->rtm_type;
  r.protocol = rtm->rtm_protocol;
  r.table = rtm->rtm_table;
  std::optional<IpAddr> dst;
  if (!get_addr(tb[RTA_DST], f, &dst)) return malformed("route destination");
  if (!dst) dst = f == Family::v4 ? IpAddr::v4(uint32_t(0)) : IpAddr::v6(IpAddr{}.bytes.data());
  if (rtm->rtm_dst_len > dst->size() * 8) return malformed("route prefix length");
  r.dst = Cidr{*dst, rtm->rtm_dst_len};
  uint32_t oif = 0;
  if (!get_u32(tb[RTA_TABLE], &r.table) || !get_u32(tb[RTA_OIF], &oif) ||
      !get_u32(tb[RTA_PRIORITY], &r.metric))
    return malformed("route attribute");
  r.ifindex = int(oif);
  if (!get_addr(tb[RTA_GATEWAY], f, &r.gateway) || !get_addr(tb[RTA_PREFSRC], f, &r.prefsrc))
    return malformed("route address");
  if (tb[RTA_MULTIPATH] && !r.ifindex && !first_nexthop(tb[RTA_MULTIPATH], f, &r))
    return malformed("route next hop");
  if (const nlattr* m = tb[RTA_METRICS]) {
    Attrs mx;
    if (mnl_attr_parse_nested(m, collect, &mx) < MNL_CB_STOP || !get_u32(mx[RTAX_MTU], &r.mtu))
      return malformed("route metrics");
  }
  return r;
}

Result<Rule> decode_rule(const nlmsghdr* nlh) {
  const auto* frh = header<fib_rule_hdr>(nlh);
  Attrs tb;
  if (!frh || !parse<fib_rule_hdr>(nlh, &tb)) return malformed("rule message");
  Rule r;
  r.family = from_af(frh->family);
  if (r.family == Family::none) return Error(Errc::unsupported, "rule family not IPv4/IPv6");
  r.table = frh->table;
  r.action = frh->action;
  r.invert = (frh->flags & FIB_RULE_INVERT) != 0;
  uint32_t suppress = uint32_t(-1);
  if (!get_u32(tb[FRA_PRIORITY], &r.priority) || !get_u32(tb[FRA_TABLE], &r.table) ||
      !get_u32(tb[FRA_FWMARK], &r.fwmark) || !get_u32(tb[FRA_FWMASK], &r.fwmask) ||
      !get_u32(tb[FRA_SUPPRESS_PREFIXLEN], &suppress))
    return malformed("rule attribute");
  r.suppress_prefixlen = int(int32_t(suppress));
  if (const nlattr* p = tb[FRA_PROTOCOL]) {
    if (mnl_attr_get_payload_len(p) != 1) return malformed("rule protocol");
    r.protocol = mnl_attr_get_u8(p);
  }
  return r;
}

Errc errc_from_errno(int errnum) {
  switch (errnum) {
    case EEXIST: return Errc::exists;
    case ENOENT: case ESRCH: case ENODEV: case EADDRNOTAVAIL: return Errc::not_found;
    case EINVAL: case ERANGE: return Errc::invalid_argument;
    case EOPNOTSUPP: case EAFNOSUPPORT: return Errc::unsupported;
    default: return Errc::io;
  }
}

Result<void> decode_error(const nlmsghdr* nlh, const char* what) {
  const auto* err = header<nlmsgerr>(nlh);
  if (!err) return malformed("netlink error message");
  if (err->error == 0) return ok();
  // The kernel sends -errno (1..4095); anything else is malformed (and -INT_MIN would be UB:
  // found by fuzz_rtnl_decode).
  if (err->error > 0 || err->error < -4095) return malformed("netlink error code");
  int errnum = -err->error;
  std::string msg = std::string(what) + ": " + std::strerror(errnum);
  // Extended ack: TLVs follow the echoed request (only its header when NLM_F_CAPPED).
  if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
    size_t off = sizeof(nlmsgerr);
    if (!(nlh->nlmsg_flags & NLM_F_CAPPED) && err->msg.nlmsg_len >= NLMSG_HDRLEN)
      off += err->msg.nlmsg_len - NLMSG_HDRLEN;
    Attrs tb;
    if (off <= mnl_nlmsg_get_payload_len(nlh) &&
        mnl_attr_parse(nlh, unsigned(off), collect, &tb) >= MNL_CB_STOP && tb[NLMSGERR_ATTR_MSG] &&
        mnl_attr_validate(tb[NLMSGERR_ATTR_MSG], MNL_TYPE_NUL_STRING) >= 0)
      msg += std::string(" (") + mnl_attr_get_str(tb[NLMSGERR_ATTR_MSG]) + ")";
  }
  return Error(errc_from_errno(errnum), msg);
}

}  // namespace ptun::netlink
