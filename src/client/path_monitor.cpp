#include "client/path_monitor.hpp"

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>

namespace ptun::client {

PathMonitor::PathMonitor(core::Loop& loop, mnl_socket* nl)
    : loop_(loop), nl_(nl), poll_(std::make_unique<core::FdPoll>(loop, mnl_socket_get_fd(nl))) {}

PathMonitor::~PathMonitor() {
  poll_.reset();   // stops the poll handle before the fd goes
  mnl_socket_close(nl_);
}

Result<std::unique_ptr<PathMonitor>> PathMonitor::open(core::Loop& loop) {
  mnl_socket* nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (!nl) return Error::from_errno("netlink monitor socket", errno);
  unsigned groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
  if (mnl_socket_bind(nl, groups, MNL_SOCKET_AUTOPID) < 0) {
    int e = errno;
    mnl_socket_close(nl);
    return Error::from_errno("netlink monitor bind", e);
  }
  return std::unique_ptr<PathMonitor>(new PathMonitor(loop, nl));
}

bool PathMonitor::drain() {
  bool any = false;
  char buf[16384];
  for (int i = 0; i < 1024; ++i) {   // bounded: a flood cannot keep the loop here
    ssize_t n = mnl_socket_recvfrom(nl_, buf, sizeof buf);
    if (n > 0) {
      any = true;
      continue;
    }
    if (n < 0 && errno == ENOBUFS) {   // the kernel dropped events: assume everything changed
      any = true;
      continue;
    }
    break;   // EAGAIN (empty) or an error; the caller's next wait sees new data
  }
  return any;
}

core::Task<Result<void>> PathMonitor::wait_change(core::CancelToken stop) {
  for (;;) {
    auto r = co_await poll_->wait(UV_READABLE, stop);
    if (!r) co_return r.error();
    if (drain()) break;
  }
  // Settle: keep draining until kSettleMs pass quietly (bounded: at most 20 rounds, 3 s).
  for (int round = 0; round < 20; ++round) {
    auto s = co_await core::sleep_for(loop_, kSettleMs, stop);
    if (!s) co_return s.error();
    if (!drain()) break;
  }
  co_return Result<void>{};
}

}  // namespace ptun::client
