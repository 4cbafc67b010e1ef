// Rtnl against the real kernel, inside a private network namespace (see netns_child.hpp):
//
//   [ lo ]   [ rtnltest0 (TUN, held open by the test) ]
//              10.77.0.1/24, fd77::1/64, MTU 1400
//   main:  10.88.0.0/16 dev rtnltest0, 10.89.0.0/16 via 10.77.0.2
//   7074:  default dev rtnltest0 (v4 + v6), unreachable 10.99.0.0/16
//   rules: 99  lookup main suppress_prefixlength 0
//          100 not fwmark 0x1234 lookup 7074
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "netlink/netns_child.hpp"
#include "netlink/rtnl.hpp"

using namespace ptun;
using namespace ptun::netlink;
using ptun::test::ChildChecks;

namespace {

Cidr cidr(const char* s) { return *Cidr::parse_interface(s); }
IpAddr ip(const char* s) { return *IpAddr::parse(s); }

// A TUN link for the test to configure (ptun_tun is a separate module; this is the raw ioctl).
int open_test_tun(const char* name) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return -1;
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

template <typename T, typename Pred>
const T* find(const std::vector<T>& v, Pred p) {
  auto it = std::find_if(v.begin(), v.end(), p);
  return it == v.end() ? nullptr : &*it;
}

Route dev_route(const char* dst, int ifindex, uint32_t table = RT_TABLE_MAIN) {
  Route r;
  r.dst = *Cidr::parse(dst);
  r.ifindex = ifindex;
  r.table = table;
  return r;
}

void links_and_addresses(ChildChecks& c, Rtnl& nl, int idx) {
  auto l = nl.link_get(idx);
  CHILD_OK(c, l);
  CHILD_CHECK(c, l->name == "rtnltest0");
  CHILD_CHECK(c, !l->up);
  CHILD_OK(c, nl.link_set_mtu(idx, 1400));
  CHILD_OK(c, nl.link_set_up(idx, true));
  l = nl.link_get(idx);
  CHILD_OK(c, l);
  CHILD_CHECK(c, l->mtu == 1400);
  CHILD_CHECK(c, l->up && (l->flags & IFF_UP));
  auto all = nl.links();
  CHILD_OK(c, all);
  CHILD_CHECK(c, find(*all, [](const LinkInfo& x) { return x.name == "lo"; }));
  CHILD_CHECK(c, find(*all, [&](const LinkInfo& x) { return x.ifindex == idx && x.mtu == 1400; }));
  auto missing = nl.link_index("nosuchlink0");
  CHILD_CHECK(c, !missing.ok() && missing.error().code == Errc::not_found);
  CHILD_CHECK(c, nl.link_get(99999).error().code == Errc::not_found);

  CHILD_OK(c, nl.addr_add(idx, cidr("10.77.0.1/24")));
  CHILD_OK(c, nl.addr_add(idx, cidr("fd77::1/64")));
  auto dup = nl.addr_add(idx, cidr("10.77.0.1/24"));
  CHILD_CHECK(c, !dup.ok() && dup.error().code == Errc::exists);
  auto v4 = nl.addrs(Family::v4);
  CHILD_OK(c, v4);
  CHILD_CHECK(c, find(*v4, [&](const AddrInfo& a) {
    return a.ifindex == idx && a.addr == cidr("10.77.0.1/24") && a.scope == RT_SCOPE_UNIVERSE;
  }));
  CHILD_CHECK(c, !find(*v4, [](const AddrInfo& a) { return a.addr.addr.is_v6(); }));
  auto v6 = nl.addrs(Family::v6);
  CHILD_OK(c, v6);
  CHILD_CHECK(c, find(*v6, [&](const AddrInfo& a) {
    return a.ifindex == idx && a.addr == cidr("fd77::1/64");
  }));
  auto both = nl.addrs();
  CHILD_OK(c, both);
  CHILD_CHECK(c, both->size() >= v4->size() + 1);
}

void routes(ChildChecks& c, Rtnl& nl, int idx) {
  Route r = dev_route("10.88.0.0/16", idx);
  r.metric = 10;
  r.mtu = 1300;
  CHILD_OK(c, nl.route_add(r));
  auto again = nl.route_add(r);
  CHILD_CHECK(c, !again.ok() && again.error().code == Errc::exists);
  auto main4 = nl.routes(Family::v4, RT_TABLE_MAIN);
  CHILD_OK(c, main4);
  const Route* got = find(*main4, [&](const Route& x) { return x.dst == r.dst; });
  CHILD_CHECK(c, got && got->ifindex == idx && got->metric == 10 && got->mtu == 1300 &&
                     got->protocol == kPtunRouteProto && got->type == RTN_UNICAST);
  CHILD_CHECK(c, find(*main4, [&](const Route& x) {  // the kernel's connected route
    return x.dst == *Cidr::parse("10.77.0.0/24") && x.protocol == RTPROT_KERNEL;
  }));
  r.mtu = 1280;
  CHILD_OK(c, nl.route_replace(r));
  main4 = nl.routes(Family::v4, RT_TABLE_MAIN);
  CHILD_OK(c, main4);
  CHILD_CHECK(c, std::count_if(main4->begin(), main4->end(),
                               [&](const Route& x) { return x.dst == r.dst; }) == 1);
  got = find(*main4, [&](const Route& x) { return x.dst == r.dst; });
  CHILD_CHECK(c, got && got->mtu == 1280);

  Route via;
  via.dst = *Cidr::parse("10.89.0.0/16");
  via.gateway = ip("10.77.0.2");
  CHILD_OK(c, nl.route_add(via));
  main4 = nl.routes(Family::v4, RT_TABLE_MAIN);
  CHILD_OK(c, main4);
  got = find(*main4, [&](const Route& x) { return x.dst == via.dst; });
  CHILD_CHECK(c, got && got->gateway == ip("10.77.0.2") && got->ifindex == idx);

  CHILD_OK(c, nl.route_add(dev_route("0.0.0.0/0", idx, kPtunRouteTable)));
  CHILD_OK(c, nl.route_add(dev_route("::/0", idx, kPtunRouteTable)));
  Route unreachable;
  unreachable.dst = *Cidr::parse("10.99.0.0/16");
  unreachable.type = RTN_UNREACHABLE;
  unreachable.table = kPtunRouteTable;
  CHILD_OK(c, nl.route_add(unreachable));
  auto t4 = nl.routes(Family::v4, kPtunRouteTable);
  CHILD_OK(c, t4);
  CHILD_CHECK(c, t4->size() == 2);
  CHILD_CHECK(c, find(*t4, [&](const Route& x) {
    return x.dst.prefix == 0 && x.ifindex == idx && x.table == kPtunRouteTable;
  }));
  CHILD_CHECK(c, find(*t4, [](const Route& x) { return x.type == RTN_UNREACHABLE; }));
  auto t6 = nl.routes(Family::v6, kPtunRouteTable);
  CHILD_OK(c, t6);
  CHILD_CHECK(c, t6->size() == 1 && (*t6)[0].dst == *Cidr::parse("::/0") &&
                     (*t6)[0].metric == 1024);  // the kernel's default IPv6 metric
  auto all = nl.routes(Family::none, 0);
  CHILD_OK(c, all);
  CHILD_CHECK(c, all->size() >= main4->size() + t4->size() + t6->size());
}

void rules_and_lookups(ChildChecks& c, Rtnl& nl, int idx) {
  for (Family f : {Family::v4, Family::v6}) {
    Rule suppress{f, 99, RT_TABLE_MAIN};
    suppress.suppress_prefixlen = 0;
    Rule marked{f, 100, kPtunRouteTable, 0x1234, 0, true};
    CHILD_OK(c, nl.rule_add(suppress));
    CHILD_OK(c, nl.rule_add(marked));
    auto dup = nl.rule_add(marked);
    CHILD_CHECK(c, !dup.ok() && dup.error().code == Errc::exists);
    auto rs = nl.rules(f);
    CHILD_OK(c, rs);
    CHILD_CHECK(c, find(*rs, [&](const Rule& r) {
      return r.priority == 99 && r.table == RT_TABLE_MAIN && r.suppress_prefixlen == 0 &&
             r.protocol == kPtunRouteProto && r.family == f;
    }));
    CHILD_CHECK(c, find(*rs, [&](const Rule& r) {
      return r.priority == 100 && r.table == kPtunRouteTable && r.invert && r.fwmark == 0x1234 &&
             r.fwmask == 0xffffffff && r.suppress_prefixlen == -1;
    }));
    CHILD_CHECK(c, find(*rs, [](const Rule& r) { return r.table == RT_TABLE_LOCAL; }));
  }

  // Unmarked traffic falls through main (no default there) to 7074's default via the TUN.
  auto g = nl.route_get(ip("8.8.8.8"));
  CHILD_OK(c, g);
  CHILD_CHECK(c, g->ifindex == idx && g->table == kPtunRouteTable);
  CHILD_CHECK(c, g->dst == *Cidr::parse("8.8.8.8/32"));
  auto g6 = nl.route_get(ip("2001:db8::8"));
  CHILD_OK(c, g6);
  CHILD_CHECK(c, g6->ifindex == idx && g6->table == kPtunRouteTable);
  // Marked traffic skips 7074 and main has no default: no route.
  auto marked = nl.route_get(ip("8.8.8.8"), 0x1234);
  CHILD_CHECK(c, !marked.ok());
  // A specific route in main wins despite suppress_prefixlength 0.
  auto specific = nl.route_get(ip("10.88.1.1"), 0x1234);
  CHILD_OK(c, specific);
  CHILD_CHECK(c, specific->ifindex == idx && specific->table == RT_TABLE_MAIN);
  auto gw = nl.route_get(ip("10.89.0.5"));
  CHILD_OK(c, gw);
  CHILD_CHECK(c, gw->gateway == ip("10.77.0.2"));
  CHILD_CHECK(c, !nl.route_get(ip("10.99.0.1")).ok());  // unreachable in 7074

  for (Family f : {Family::v4, Family::v6}) {
    Rule suppress{f, 99, RT_TABLE_MAIN};
    suppress.suppress_prefixlen = 0;
    CHILD_OK(c, nl.rule_del(suppress));
    CHILD_OK(c, nl.rule_del(Rule{f, 100, kPtunRouteTable, 0x1234, 0, true}));
    auto gone = nl.rule_del(suppress);
    CHILD_CHECK(c, !gone.ok() && gone.error().code == Errc::not_found);
    auto rs = nl.rules(f);
    CHILD_OK(c, rs);
    CHILD_CHECK(c, !find(*rs, [](const Rule& r) { return r.protocol == kPtunRouteProto; }));
  }
}

void deletes(ChildChecks& c, Rtnl& nl, int idx) {
  CHILD_OK(c, nl.route_del(dev_route("10.88.0.0/16", idx)));
  auto gone = nl.route_del(dev_route("10.88.0.0/16", idx));
  CHILD_CHECK(c, !gone.ok() && gone.error().code == Errc::not_found);
  // A hand-built Route only matches ptun's own routes: the kernel's connected route survives.
  auto foreign = nl.route_del(dev_route("10.77.0.0/24", idx));
  CHILD_CHECK(c, !foreign.ok() && foreign.error().code == Errc::not_found);
  auto t = nl.routes(Family::v4, kPtunRouteTable);
  CHILD_OK(c, t);
  for (const Route& r : *t) CHILD_OK(c, nl.route_del(r));  // listed routes delete as they are
  t = nl.routes(Family::v4, kPtunRouteTable);
  CHILD_OK(c, t);
  CHILD_CHECK(c, t->empty());

  CHILD_OK(c, nl.addr_del(idx, cidr("10.77.0.1/24")));
  auto v4 = nl.addrs(Family::v4);
  CHILD_OK(c, v4);
  CHILD_CHECK(c, !find(*v4, [&](const AddrInfo& a) { return a.ifindex == idx; }));
  auto again = nl.addr_del(idx, cidr("10.77.0.1/24"));
  CHILD_CHECK(c, !again.ok() && again.error().code == Errc::not_found);
  CHILD_OK(c, nl.link_del(idx));
  CHILD_CHECK(c, nl.link_index("rtnltest0").error().code == Errc::not_found);
}

}  // namespace

TEST_CASE("rtnl configures links, addresses, routes and rules in a netns", "[netlink][netns]") {
  ptun::test::run_in_netns([](ChildChecks& c) {
    auto nl = Rtnl::open();
    CHILD_OK(c, nl);
    auto lo = (*nl)->link_index("lo");
    CHILD_OK(c, lo);
    CHILD_OK(c, (*nl)->link_set_up(*lo, true));
    int fd = open_test_tun("rtnltest0");
    CHILD_CHECK(c, fd >= 0);
    if (fd < 0) return;
    auto idx = (*nl)->link_index("rtnltest0");
    CHILD_OK(c, idx);
    links_and_addresses(c, **nl, *idx);
    if (!c.failures.empty()) return;
    routes(c, **nl, *idx);
    if (!c.failures.empty()) return;
    rules_and_lookups(c, **nl, *idx);
    deletes(c, **nl, *idx);
    close(fd);
  });
}

TEST_CASE("rtnl reports bad requests as values", "[netlink][netns]") {
  ptun::test::run_in_netns([](ChildChecks& c) {
    auto nl = Rtnl::open();
    CHILD_OK(c, nl);
    CHILD_CHECK(c, (*nl)->link_set_mtu(99999, 1400).error().code == Errc::not_found);
    CHILD_CHECK(c, (*nl)->link_set_mtu(1, 0).error().code == Errc::invalid_argument);
    Route r = dev_route("10.1.0.0/16", 99999);
    auto e = (*nl)->route_add(r);
    CHILD_CHECK(c, !e.ok() && e.error().code == Errc::not_found);
    CHILD_CHECK(c, (*nl)->route_add(Route{}).error().code == Errc::invalid_argument);
    // The socket stays usable after errors.
    auto links = (*nl)->links();
    CHILD_OK(c, links);
    CHILD_CHECK(c, links->size() == 1);  // only lo in a fresh namespace
  });
}
