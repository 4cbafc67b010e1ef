// Decoders against hostile or unusual kernel messages: truncation, wrong attribute sizes, errors
// with extended acks, multipath routes.
#include <catch2/catch.hpp>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>

#include <cerrno>
#include <cstring>

#include "netlink/rtnl_messages.hpp"

using namespace ptun;
using namespace ptun::netlink;

namespace {

struct Msg {
  alignas(8) uint8_t bytes[512] = {};
  nlmsghdr* start(uint16_t type, uint16_t flags = 0) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(bytes);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
    return nlh;
  }
};

}  // namespace

TEST_CASE("error messages become Errors with the kernel's text", "[netlink][parse]") {
  Msg m;
  nlmsghdr* nlh = m.start(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS);
  auto* err = static_cast<nlmsgerr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nlmsgerr)));
  err->error = -EEXIST;
  err->msg.nlmsg_len = 40;  // echoed request header only (capped)
  mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, "File exists here");
  auto r = decode_error(nlh, "route add");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::exists);
  CHECK(r.error().message == std::string("route add: ") + std::strerror(EEXIST) +
                                 " (File exists here)");

  err->error = 0;
  CHECK(decode_error(nlh, "x").ok());

  Msg plain;
  nlmsghdr* p = plain.start(NLMSG_ERROR);
  static_cast<nlmsgerr*>(mnl_nlmsg_put_extra_header(p, sizeof(nlmsgerr)))->error = -ENODEV;
  auto r2 = decode_error(p, "link");
  CHECK(r2.error().code == Errc::not_found);
  CHECK(r2.error().message.find('(') == std::string::npos);

  Msg tiny;
  nlmsghdr* t = tiny.start(NLMSG_ERROR);  // no nlmsgerr at all
  CHECK(decode_error(t, "x").error().code == Errc::protocol);
}

TEST_CASE("errno mapping", "[netlink][parse]") {
  CHECK(errc_from_errno(EEXIST) == Errc::exists);
  CHECK(errc_from_errno(ESRCH) == Errc::not_found);
  CHECK(errc_from_errno(EADDRNOTAVAIL) == Errc::not_found);
  CHECK(errc_from_errno(EINVAL) == Errc::invalid_argument);
  CHECK(errc_from_errno(EOPNOTSUPP) == Errc::unsupported);
  CHECK(errc_from_errno(EPERM) == Errc::io);
}

TEST_CASE("truncated messages are rejected", "[netlink][parse]") {
  Msg m;
  nlmsghdr* nlh = m.start(RTM_NEWROUTE);
  nlh->nlmsg_len = NLMSG_HDRLEN + 4;  // shorter than struct rtmsg
  CHECK(decode_route(nlh).error().code == Errc::protocol);
  CHECK(decode_rule(nlh).error().code == Errc::protocol);
  CHECK(decode_addr(nlh).error().code == Errc::protocol);
  CHECK(decode_link(nlh).error().code == Errc::protocol);
  nlh->nlmsg_len = 2;  // shorter than nlmsghdr
  CHECK(decode_route(nlh).error().code == Errc::protocol);
}

TEST_CASE("attributes of the wrong size are rejected", "[netlink][parse]") {
  Msg m;
  nlmsghdr* nlh = m.start(RTM_NEWROUTE);
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = AF_INET;
  rtm->rtm_dst_len = 8;
  SECTION("IPv6-sized destination in an IPv4 route") {
    uint8_t a16[16] = {10};
    mnl_attr_put(nlh, RTA_DST, 16, a16);
    CHECK(decode_route(nlh).error().code == Errc::protocol);
  }
  SECTION("2-byte table") {
    mnl_attr_put_u16(nlh, RTA_TABLE, 7);
    CHECK(decode_route(nlh).error().code == Errc::protocol);
  }
  SECTION("prefix longer than the address") {
    rtm->rtm_dst_len = 33;
    CHECK(decode_route(nlh).error().code == Errc::protocol);
  }
  SECTION("unknown family is unsupported, not malformed") {
    rtm->rtm_family = AF_MPLS;
    CHECK(decode_route(nlh).error().code == Errc::unsupported);
  }
  SECTION("no destination attribute means the default route") {
    rtm->rtm_dst_len = 0;
    auto r = decode_route(nlh);
    REQUIRE(r.ok());
    CHECK(r->dst == *Cidr::parse("0.0.0.0/0"));
  }
}

TEST_CASE("multipath route reports its first next hop", "[netlink][parse]") {
  Msg m;
  nlmsghdr* nlh = m.start(RTM_NEWROUTE);
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = AF_INET;
  rtm->rtm_type = RTN_UNICAST;
  rtm->rtm_table = RT_TABLE_MAIN;
  nlattr* mp = mnl_attr_nest_start(nlh, RTA_MULTIPATH);
  for (int hop = 0; hop < 2; ++hop) {
    auto* nh = static_cast<rtnexthop*>(mnl_nlmsg_get_payload_tail(nlh));
    nlh->nlmsg_len += RTNH_ALIGN(sizeof(rtnexthop));
    std::memset(nh, 0, sizeof *nh);
    nh->rtnh_ifindex = 11 + hop;
    uint8_t gw[4] = {192, 0, 2, uint8_t(1 + hop)};
    mnl_attr_put(nlh, RTA_GATEWAY, 4, gw);
    nh->rtnh_len = uint16_t(static_cast<uint8_t*>(mnl_nlmsg_get_payload_tail(nlh)) -
                            reinterpret_cast<uint8_t*>(nh));
  }
  mnl_attr_nest_end(nlh, mp);
  auto r = decode_route(nlh);
  REQUIRE(r.ok());
  CHECK(r->ifindex == 11);
  REQUIRE(r->gateway);
  CHECK(*r->gateway == *IpAddr::parse("192.0.2.1"));
}

TEST_CASE("link decode reads name, MTU and flags", "[netlink][parse]") {
  Msg m;
  nlmsghdr* nlh = m.start(RTM_NEWLINK);
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_index = 42;
  ifi->ifi_flags = IFF_UP | IFF_POINTOPOINT;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, "ptun0");
  mnl_attr_put_u32(nlh, IFLA_MTU, 1420);
  auto l = decode_link(nlh);
  REQUIRE(l.ok());
  CHECK(l->ifindex == 42);
  CHECK(l->name == "ptun0");
  CHECK(l->mtu == 1420);
  CHECK(l->up);
  CHECK((l->flags & IFF_POINTOPOINT) != 0);

  Msg bad;
  nlmsghdr* b = bad.start(RTM_NEWLINK);
  mnl_nlmsg_put_extra_header(b, sizeof(ifinfomsg));
  char unterminated[4] = {'a', 'b', 'c', 'd'};
  mnl_attr_put(b, IFLA_IFNAME, 4, unterminated);
  CHECK(decode_link(b).error().code == Errc::protocol);
}

TEST_CASE("address decode prefers IFA_LOCAL over the peer address", "[netlink][parse]") {
  Msg m;
  nlmsghdr* nlh = m.start(RTM_NEWADDR);
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = 32;
  ifa->ifa_index = 3;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  uint8_t peer[4] = {10, 0, 0, 2}, local[4] = {10, 0, 0, 1};
  mnl_attr_put(nlh, IFA_ADDRESS, 4, peer);
  mnl_attr_put(nlh, IFA_LOCAL, 4, local);
  auto a = decode_addr(nlh);
  REQUIRE(a.ok());
  CHECK(a->addr == *Cidr::parse_interface("10.0.0.1/32"));
  CHECK(a->ifindex == 3);
}
