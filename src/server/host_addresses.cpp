#include "server/host_addresses.hpp"

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>

namespace ptun::server {

HostAddresses::HostAddresses(mnl_socket* nl, std::unique_ptr<netlink::Rtnl> rtnl, core::Loop& loop)
    : nl_(nl), rtnl_(std::move(rtnl)), poll_(std::make_unique<core::FdPoll>(loop, mnl_socket_get_fd(nl))) {}

HostAddresses::~HostAddresses() {
  poll_.reset();  // stops the poll handle before the fd goes
  mnl_socket_close(nl_);
}

Result<std::unique_ptr<HostAddresses>> HostAddresses::open(core::Loop& loop) {
  mnl_socket* nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (!nl) return Error::from_errno("netlink address monitor socket", errno);
  if (mnl_socket_bind(nl, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, MNL_SOCKET_AUTOPID) < 0) {
    int e = errno;
    mnl_socket_close(nl);
    return Error::from_errno("netlink address monitor bind", e);
  }
  auto rtnl = netlink::Rtnl::open();
  if (!rtnl) {
    mnl_socket_close(nl);
    return rtnl.error();
  }
  return std::unique_ptr<HostAddresses>(new HostAddresses(nl, std::move(*rtnl), loop));
}

Result<std::vector<IpAddr>> HostAddresses::current() {
  auto addrs = rtnl_->addrs();
  if (!addrs) return addrs.error();
  std::vector<IpAddr> out;
  out.reserve(addrs->size());
  for (const auto& a : *addrs) out.push_back(a.addr.addr);
  return out;
}

bool HostAddresses::drain() {
  bool any = false;
  char buf[16384];
  for (int i = 0; i < 1024; ++i) {  // bounded: a flood cannot keep the loop here
    ssize_t n = mnl_socket_recvfrom(nl_, buf, sizeof buf);
    if (n > 0 || (n < 0 && errno == ENOBUFS)) {  // ENOBUFS: events lost, dump anyway
      any = true;
      continue;
    }
    break;  // EAGAIN (empty) or an error; the next wait sees new data
  }
  return any;
}

core::Task<Result<void>> HostAddresses::wait_change(core::CancelToken stop) {
  for (;;) {
    auto r = co_await poll_->wait(UV_READABLE, stop);
    if (!r) co_return r.error();
    if (drain()) co_return Result<void>{};
  }
}

}  // namespace ptun::server
