// Unit tests of the sans-I/O rtnetlink codecs: no socket, no root. Requests are checked attribute
// by attribute with mnl_attr_parse, and decode_* is checked against build_* (the kernel's replies
// use the same layout as requests).
#include <catch2/catch.hpp>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <netinet/in.h>

#include <cstring>
#include <map>

#include "netlink/rtnl_messages.hpp"

using namespace ptun;
using namespace ptun::netlink;

namespace {

Cidr cidr(const char* s) { return *Cidr::parse_interface(s); }
IpAddr ip(const char* s) { return *IpAddr::parse(s); }

// Attributes of a request by type (after `hdr` bytes of fixed header).
std::map<uint16_t, const nlattr*> attrs(const nlmsghdr* nlh, size_t hdr) {
  std::map<uint16_t, const nlattr*> m;
  mnl_attr_parse(
      nlh, unsigned(hdr),
      [](const nlattr* a, void* data) {
        (*static_cast<std::map<uint16_t, const nlattr*>*>(data))[mnl_attr_get_type(a)] = a;
        return MNL_CB_OK;
      },
      &m);
  return m;
}

IpAddr attr_addr(const nlattr* a) {
  const auto* p = static_cast<const uint8_t*>(mnl_attr_get_payload(a));
  return mnl_attr_get_payload_len(a) == 4 ? IpAddr::v4(p) : IpAddr::v6(p);
}

}  // namespace

TEST_CASE("route add request carries every attribute", "[netlink][messages]") {
  RequestBuf buf;
  Route r;
  r.dst = cidr("10.20.0.0/16");
  r.ifindex = 7;
  r.gateway = ip("10.0.0.1");
  r.table = 7074;
  r.metric = 50;
  r.prefsrc = ip("10.0.0.2");
  r.mtu = 1380;
  auto req = build_route(buf, Op::add, r);
  REQUIRE(req.ok());
  const nlmsghdr* nlh = *req;
  CHECK(nlh->nlmsg_type == RTM_NEWROUTE);
  CHECK(nlh->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL));
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
  CHECK(rtm->rtm_family == AF_INET);
  CHECK(rtm->rtm_dst_len == 16);
  CHECK(rtm->rtm_table == RT_TABLE_UNSPEC);  // 7074 does not fit the 8-bit field
  CHECK(rtm->rtm_protocol == kPtunRouteProto);
  CHECK(rtm->rtm_type == RTN_UNICAST);
  CHECK(rtm->rtm_scope == RT_SCOPE_UNIVERSE);  // has a gateway

  auto a = attrs(nlh, sizeof(rtmsg));
  REQUIRE(a.count(RTA_DST));
  CHECK(attr_addr(a[RTA_DST]) == ip("10.20.0.0"));
  CHECK(mnl_attr_get_u32(a[RTA_TABLE]) == 7074);
  CHECK(mnl_attr_get_u32(a[RTA_OIF]) == 7);
  CHECK(attr_addr(a[RTA_GATEWAY]) == ip("10.0.0.1"));
  CHECK(mnl_attr_get_u32(a[RTA_PRIORITY]) == 50);
  CHECK(attr_addr(a[RTA_PREFSRC]) == ip("10.0.0.2"));
  REQUIRE(a.count(RTA_METRICS));
  std::map<uint16_t, const nlattr*> mx;
  mnl_attr_parse_nested(
      a[RTA_METRICS],
      [](const nlattr* at, void* d) {
        (*static_cast<std::map<uint16_t, const nlattr*>*>(d))[mnl_attr_get_type(at)] = at;
        return MNL_CB_OK;
      },
      &mx);
  REQUIRE(mx.count(RTAX_MTU));
  CHECK(mnl_attr_get_u32(mx[RTAX_MTU]) == 1380);
}

TEST_CASE("route requests: default route, device route, delete, replace", "[netlink][messages]") {
  RequestBuf buf;
  SECTION("default v6 route via a device is on-link and has no RTA_DST") {
    Route r;
    r.dst = cidr("::/0");
    r.ifindex = 3;
    auto req = build_route(buf, Op::replace, r);
    REQUIRE(req.ok());
    CHECK((*req)->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE));
    const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(*req));
    CHECK(rtm->rtm_family == AF_INET6);
    CHECK(rtm->rtm_table == RT_TABLE_MAIN);
    CHECK(rtm->rtm_scope == RT_SCOPE_LINK);
    auto a = attrs(*req, sizeof(rtmsg));
    CHECK(a.count(RTA_DST) == 0);
    CHECK(a.count(RTA_GATEWAY) == 0);
    CHECK(a.count(RTA_METRICS) == 0);
    CHECK(a.count(RTA_PRIORITY) == 0);
  }
  SECTION("throw routes are link scope (the kernel's gateway lookup must see them)") {
    Route r;
    r.dst = cidr("198.18.0.0/30");
    r.type = RTN_THROW;
    r.table = 7074;
    auto req = build_route(buf, Op::add, r);
    REQUIRE(req.ok());
    const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(*req));
    CHECK(rtm->rtm_type == RTN_THROW);
    CHECK(rtm->rtm_scope == RT_SCOPE_LINK);
  }
  SECTION("delete matches any scope and keeps the protocol") {
    Route r;
    r.dst = cidr("192.168.0.0/24");
    r.ifindex = 3;
    auto req = build_route(buf, Op::del, r);
    REQUIRE(req.ok());
    CHECK((*req)->nlmsg_type == RTM_DELROUTE);
    CHECK((*req)->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK));
    const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(*req));
    CHECK(rtm->rtm_scope == RT_SCOPE_NOWHERE);
    CHECK(rtm->rtm_protocol == kPtunRouteProto);
  }
  SECTION("unreachable route needs no interface; explicit protocol is kept") {
    Route r;
    r.dst = cidr("10.99.0.0/16");
    r.type = RTN_UNREACHABLE;
    r.protocol = RTPROT_STATIC;
    auto req = build_route(buf, Op::add, r);
    REQUIRE(req.ok());
    const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(*req));
    CHECK(rtm->rtm_type == RTN_UNREACHABLE);
    CHECK(rtm->rtm_protocol == RTPROT_STATIC);
    CHECK(attrs(*req, sizeof(rtmsg)).count(RTA_OIF) == 0);
  }
}

TEST_CASE("route requests are validated", "[netlink][messages]") {
  RequestBuf buf;
  Route r;
  r.ifindex = 1;
  CHECK(build_route(buf, Op::add, r).error().code == Errc::invalid_argument);  // no family
  r.dst = cidr("10.0.0.1/8");                                                   // host bits
  CHECK(build_route(buf, Op::add, r).error().code == Errc::invalid_argument);
  r.dst = cidr("10.0.0.0/8");
  r.gateway = ip("fe80::1");
  CHECK(build_route(buf, Op::add, r).error().code == Errc::invalid_argument);
  r.gateway.reset();
  r.prefsrc = ip("::1");
  CHECK(build_route(buf, Op::add, r).error().code == Errc::invalid_argument);
  r.prefsrc.reset();
  r.ifindex = 0;
  CHECK(build_route(buf, Op::add, r).error().code == Errc::invalid_argument);  // nowhere to go
  CHECK(build_route(buf, Op::del, r).ok());  // a delete may leave the interface open
}

TEST_CASE("route decode inverts build", "[netlink][messages]") {
  RequestBuf buf;
  Route r;
  r.dst = GENERATE(cidr("0.0.0.0/0"), cidr("10.1.2.0/24"), cidr("2001:db8::/32"), cidr("::/0"));
  bool v4 = r.dst.addr.is_v4();
  r.ifindex = 9;
  r.gateway = v4 ? ip("172.16.0.1") : ip("fe80::1");
  r.table = GENERATE(254u, 7074u);
  r.metric = 10;
  r.mtu = 1400;
  r.prefsrc = v4 ? ip("172.16.0.2") : ip("2001:db8::2");
  auto req = build_route(buf, Op::add, r);
  REQUIRE(req.ok());
  auto back = decode_route(*req);
  REQUIRE(back.ok());
  Route expect = r;
  expect.protocol = kPtunRouteProto;
  CHECK(*back == expect);
}

TEST_CASE("route get request", "[netlink][messages]") {
  RequestBuf buf;
  auto req = build_route_get(buf, ip("2001:db8::5"), 51820);
  REQUIRE(req.ok());
  CHECK((*req)->nlmsg_type == RTM_GETROUTE);
  CHECK((*req)->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK));
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(*req));
  CHECK(rtm->rtm_family == AF_INET6);
  CHECK(rtm->rtm_dst_len == 128);
  CHECK(rtm->rtm_flags == RTM_F_LOOKUP_TABLE);
  auto a = attrs(*req, sizeof(rtmsg));
  CHECK(attr_addr(a[RTA_DST]) == ip("2001:db8::5"));
  CHECK(mnl_attr_get_u32(a[RTA_MARK]) == 51820);
  CHECK(build_route_get(buf, IpAddr{}, 0).error().code == Errc::invalid_argument);
  auto no_mark = build_route_get(buf, ip("1.1.1.1"), 0);
  REQUIRE(no_mark.ok());
  CHECK(attrs(*no_mark, sizeof(rtmsg)).count(RTA_MARK) == 0);
  CHECK(attrs(*no_mark, sizeof(rtmsg)).count(RTA_IP_PROTO) == 0);
  CHECK(attrs(*no_mark, sizeof(rtmsg)).count(RTA_DPORT) == 0);
  auto udp53 = build_route_get(buf, ip("1.1.1.1"), 0, IPPROTO_UDP, 53);
  REQUIRE(udp53.ok());
  auto u = attrs(*udp53, sizeof(rtmsg));
  CHECK(mnl_attr_get_u8(u[RTA_IP_PROTO]) == IPPROTO_UDP);
  CHECK(mnl_attr_get_u16(u[RTA_DPORT]) == htons(53));   // network order on the wire
}

TEST_CASE("rule requests as wg-quick installs them", "[netlink][messages]") {
  RequestBuf buf;
  SECTION("not fwmark X lookup T") {
    Rule r{Family::v4, 32000, 7074, 0xca6c, 0, true};
    auto req = build_rule(buf, Op::add, r);
    REQUIRE(req.ok());
    CHECK((*req)->nlmsg_type == RTM_NEWRULE);
    CHECK((*req)->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL));
    const auto* frh = static_cast<const fib_rule_hdr*>(mnl_nlmsg_get_payload(*req));
    CHECK(frh->family == AF_INET);
    CHECK(frh->action == FR_ACT_TO_TBL);
    CHECK(frh->flags == FIB_RULE_INVERT);
    CHECK(frh->table == RT_TABLE_UNSPEC);
    auto a = attrs(*req, sizeof(fib_rule_hdr));
    CHECK(mnl_attr_get_u32(a[FRA_PRIORITY]) == 32000);
    CHECK(mnl_attr_get_u32(a[FRA_TABLE]) == 7074);
    CHECK(mnl_attr_get_u32(a[FRA_FWMARK]) == 0xca6c);
    CHECK(a.count(FRA_FWMASK) == 0);
    CHECK(a.count(FRA_SUPPRESS_PREFIXLEN) == 0);
    CHECK(mnl_attr_get_u8(a[FRA_PROTOCOL]) == kPtunRouteProto);
  }
  SECTION("lookup main suppress_prefixlength 0") {
    Rule r{Family::v6, 31999, RT_TABLE_MAIN};
    r.suppress_prefixlen = 0;
    auto req = build_rule(buf, Op::del, r);
    REQUIRE(req.ok());
    CHECK((*req)->nlmsg_type == RTM_DELRULE);
    const auto* frh = static_cast<const fib_rule_hdr*>(mnl_nlmsg_get_payload(*req));
    CHECK(frh->family == AF_INET6);
    CHECK(frh->table == RT_TABLE_MAIN);
    CHECK(frh->flags == 0);
    auto a = attrs(*req, sizeof(fib_rule_hdr));
    CHECK(mnl_attr_get_u32(a[FRA_SUPPRESS_PREFIXLEN]) == 0);
    CHECK(a.count(FRA_FWMARK) == 0);
  }
  SECTION("validation") {
    CHECK(build_rule(buf, Op::add, Rule{Family::none, 1, 5}).error().code == Errc::invalid_argument);
    CHECK(build_rule(buf, Op::add, Rule{Family::v4, 1, 0}).error().code == Errc::invalid_argument);
    CHECK(build_rule(buf, Op::replace, Rule{Family::v4, 1, 5}).error().code == Errc::unsupported);
    CHECK(build_rule(buf, Op::del, Rule{Family::v4, 1, 0}).ok());  // delete: any table
  }
}

TEST_CASE("rule decode inverts build", "[netlink][messages]") {
  RequestBuf buf;
  Rule r{Family::v6, 100, 7074, 0x10, 0xff, true, 0, FR_ACT_TO_TBL, RTPROT_STATIC};
  auto req = build_rule(buf, Op::add, r);
  REQUIRE(req.ok());
  auto back = decode_rule(*req);
  REQUIRE(back.ok());
  CHECK(*back == r);
  Rule unset{Family::v4, 5, 200};
  auto req2 = build_rule(buf, Op::add, unset);
  REQUIRE(req2.ok());
  auto back2 = decode_rule(*req2);
  REQUIRE(back2.ok());
  CHECK(back2->suppress_prefixlen == -1);
  CHECK(back2->protocol == kPtunRouteProto);
}

TEST_CASE("address requests", "[netlink][messages]") {
  RequestBuf buf;
  SECTION("IPv6 is added without duplicate address detection") {
    auto req = build_addr(buf, Op::add, 4, cidr("fd20::1/64"));
    REQUIRE(req.ok());
    CHECK((*req)->nlmsg_type == RTM_NEWADDR);
    const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(*req));
    CHECK(ifa->ifa_family == AF_INET6);
    CHECK(ifa->ifa_prefixlen == 64);
    CHECK(ifa->ifa_index == 4);
    CHECK((ifa->ifa_flags & IFA_F_NODAD) != 0);
    auto a = attrs(*req, sizeof(ifaddrmsg));
    CHECK(attr_addr(a[IFA_LOCAL]) == ip("fd20::1"));
    CHECK((mnl_attr_get_u32(a[IFA_FLAGS]) & IFA_F_NODAD) != 0);
    auto back = decode_addr(*req);
    REQUIRE(back.ok());
    CHECK(back->addr == cidr("fd20::1/64"));
    CHECK(back->ifindex == 4);
  }
  SECTION("IPv4 delete keeps host bits and has no flags") {
    auto req = build_addr(buf, Op::del, 4, cidr("10.200.0.1/24"));
    REQUIRE(req.ok());
    CHECK((*req)->nlmsg_type == RTM_DELADDR);
    auto a = attrs(*req, sizeof(ifaddrmsg));
    CHECK(attr_addr(a[IFA_LOCAL]) == ip("10.200.0.1"));
    CHECK(attr_addr(a[IFA_ADDRESS]) == ip("10.200.0.1"));
    CHECK(a.count(IFA_FLAGS) == 0);
  }
  CHECK(build_addr(buf, Op::add, 0, cidr("10.0.0.1/8")).error().code == Errc::invalid_argument);
  CHECK(build_addr(buf, Op::add, 1, Cidr{}).error().code == Errc::invalid_argument);
}

TEST_CASE("link requests", "[netlink][messages]") {
  RequestBuf buf;
  auto up = build_link_change(buf, 5, true, 1400);
  REQUIRE(up.ok());
  CHECK((*up)->nlmsg_type == RTM_NEWLINK);
  CHECK(((*up)->nlmsg_flags & NLM_F_CREATE) == 0);
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(*up));
  CHECK(ifi->ifi_index == 5);
  CHECK(ifi->ifi_change == IFF_UP);
  CHECK(ifi->ifi_flags == IFF_UP);
  CHECK(mnl_attr_get_u32(attrs(*up, sizeof(ifinfomsg))[IFLA_MTU]) == 1400);

  auto mtu_only = build_link_change(buf, 5, std::nullopt, 1300);
  REQUIRE(mtu_only.ok());
  ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(*mtu_only));
  CHECK(ifi->ifi_change == 0);  // flags untouched

  auto by_name = build_link_get(buf, 0, "ptun0");
  REQUIRE(by_name.ok());
  auto a = attrs(*by_name, sizeof(ifinfomsg));
  CHECK(std::string(mnl_attr_get_str(a[IFLA_IFNAME])) == "ptun0");
  auto back = decode_link(*by_name);
  REQUIRE(back.ok());
  CHECK(back->name == "ptun0");

  CHECK(build_link_get(buf, 0, "").error().code == Errc::invalid_argument);
  CHECK(build_link_get(buf, 3, "x").error().code == Errc::invalid_argument);
  CHECK(build_link_get(buf, 0, "a-name-that-is-too-long").error().code == Errc::invalid_argument);
  CHECK(build_link_change(buf, 0, true, 0).error().code == Errc::invalid_argument);
  CHECK(build_link_del(buf, -1).error().code == Errc::invalid_argument);
}

TEST_CASE("dump requests", "[netlink][messages]") {
  RequestBuf buf;
  const nlmsghdr* d = build_route_dump(buf, Family::v6);
  CHECK(d->nlmsg_type == RTM_GETROUTE);
  CHECK(d->nlmsg_flags == (NLM_F_REQUEST | NLM_F_DUMP));
  CHECK(static_cast<const rtmsg*>(mnl_nlmsg_get_payload(d))->rtm_family == AF_INET6);
  d = build_rule_dump(buf, Family::v4);
  CHECK(d->nlmsg_type == RTM_GETRULE);
  CHECK(static_cast<const fib_rule_hdr*>(mnl_nlmsg_get_payload(d))->family == AF_INET);
  d = build_addr_dump(buf, Family::none);
  CHECK(d->nlmsg_type == RTM_GETADDR);
  CHECK(static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(d))->ifa_family == AF_UNSPEC);
  d = build_link_dump(buf);
  CHECK(d->nlmsg_type == RTM_GETLINK);
  CHECK((d->nlmsg_flags & NLM_F_ACK) == 0);
}
