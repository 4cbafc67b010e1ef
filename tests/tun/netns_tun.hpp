// The TUN of the netns tests: "ptuntest0", 10.200.0.1/24 and fd20::1/64, MTU 1400, with or
// without offloads; the peer addresses 10.200.0.2 / fd20::2 are routed into it.
#pragma once
#include <poll.h>

#include <memory>

#include "netlink/netns_child.hpp"
#include "tun/tun_linux.hpp"

namespace ptun::test {

inline constexpr uint32_t kTestMtu = 1400;

inline bool wait_readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, ms) == 1;
}

inline std::unique_ptr<tun::TunDevice> setup_tun(ChildChecks& c, netlink::Rtnl& nl, bool offload = true) {
  auto lo = nl.link_index("lo");
  if (!lo.ok() || !nl.link_set_up(*lo, true).ok()) {
    c.fail(__FILE__, __LINE__, "lo up");
    return nullptr;
  }
  tun::TunOptions o{"ptuntest0"};
  o.offload = offload;
  auto tun = tun::TunDevice::open(o);
  if (!tun.ok()) {
    c.fail(__FILE__, __LINE__, "open: " + tun.error().message);
    return nullptr;
  }
  auto r = (*tun)->configure(nl, kTestMtu, {*Cidr::parse_interface("10.200.0.1/24"),
                                            *Cidr::parse_interface("fd20::1/64")});
  if (!r.ok()) {
    c.fail(__FILE__, __LINE__, "configure: " + r.error().message);
    return nullptr;
  }
  return std::move(*tun);
}

}  // namespace ptun::test
