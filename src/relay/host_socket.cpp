#include "relay/host_socket.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace ptun::relay {
namespace {

Endpoint sock_name(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (rc != 0) return {};
  return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

Result<int> open_bound(const Endpoint& at, int type) {
  sockaddr_storage ss{};
  socklen_t len = at.to_sockaddr(&ss);
  if (len == 0) return Error(Errc::invalid_argument, "empty address");
  int fd = ::socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno("socket", errno);
  int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int e = errno;
    ::close(fd);
    return Error::from_errno("bind " + at.str(), e);
  }
  return fd;
}

}  // namespace

HostTcp::HostTcp(core::Loop& loop, int fd) : loop_(loop), fd_(fd), poll_(loop, fd) {}

HostTcp::~HostTcp() {
  poll_.close();
  ::close(fd_);
}

Result<std::unique_ptr<HostTcp>> HostTcp::listen(core::Loop& loop, const Endpoint& at, int backlog) {
  auto fd = open_bound(at, SOCK_STREAM);
  if (!fd) return fd.error();
  if (::listen(*fd, backlog) != 0) {
    int e = errno;
    ::close(*fd);
    return Error::from_errno("listen " + at.str(), e);
  }
  return std::unique_ptr<HostTcp>(new HostTcp(loop, *fd));
}

std::unique_ptr<HostTcp> HostTcp::adopt(core::Loop& loop, int fd) {
  return std::unique_ptr<HostTcp>(new HostTcp(loop, fd));
}

core::Task<Result<std::unique_ptr<HostTcp>>> HostTcp::connect(core::Loop& loop, Endpoint dst,
                                                              core::CancelToken token) {
  sockaddr_storage ss{};
  socklen_t len = dst.to_sockaddr(&ss);
  if (len == 0) co_return Error(Errc::invalid_argument, "empty address");
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) co_return Error::from_errno("socket", errno);
  std::unique_ptr<HostTcp> c(new HostTcp(loop, fd));
  int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
    if (errno == ECONNREFUSED) co_return Error(Errc::closed, "connection refused");
    if (errno == EHOSTUNREACH || errno == ENETUNREACH) co_return Error(Errc::not_found, "no route to " + dst.str());
    co_return Error::from_errno("connect " + dst.str(), errno);
  }
  auto r = co_await c->poll_.until(UV_WRITABLE, token);
  if (!r && r.error().code == Errc::cancelled) co_return r.error();
  // A failed connect wakes the poll with POLLERR, which libuv reports to a poll handle as
  // UV_EBADF: the connect's own error is in SO_ERROR either way.
  int err = 0;
  socklen_t el = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) err = errno;
  if (err == ECONNREFUSED) co_return Error(Errc::closed, "connection refused");
  if (err == EHOSTUNREACH || err == ENETUNREACH) co_return Error(Errc::not_found, "no route to " + dst.str());
  if (err != 0) co_return Error::from_errno("connect " + dst.str(), err);
  if (!r) co_return r.error();
  co_return c;
}

core::Task<Result<std::unique_ptr<HostTcp>>> HostTcp::accept(core::CancelToken token) {
  for (;;) {
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      int one = 1;
      (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      co_return std::unique_ptr<HostTcp>(new HostTcp(loop_, fd));
    }
    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
      // EMFILE and friends: wait a little instead of spinning on a readable listener.
      int e = errno;
      auto s = co_await core::sleep_for(loop_, 100, token);
      if (!s) co_return s.error();
      if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) co_return Error::from_errno("accept", e);
      continue;
    }
    auto r = co_await poll_.until(UV_READABLE, token);
    if (!r) co_return r.error();
  }
}

Result<size_t> HostTcp::try_read(std::span<uint8_t> buf) {
  for (;;) {
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n >= 0) return size_t(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return Error(Errc::would_block, "nothing pending");
    return Error::from_errno("recv", errno);
  }
}

core::Task<Result<size_t>> HostTcp::read_some(std::span<uint8_t> buf, core::CancelToken token) {
  for (;;) {
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n >= 0) co_return size_t(n);
    if (errno != EAGAIN && errno != EINTR) co_return Error::from_errno("recv", errno);
    auto r = co_await poll_.until(UV_READABLE, token);
    if (!r) co_return r.error();
  }
}

core::Task<Result<void>> HostTcp::write_all(std::span<const uint8_t> data, core::CancelToken token) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      data = data.subspan(size_t(n));
      continue;
    }
    if (errno != EAGAIN && errno != EINTR) co_return Error::from_errno("send", errno);
    auto r = co_await poll_.until(UV_WRITABLE, token);
    if (!r) co_return r.error();
  }
  co_return Result<void>{};
}

void HostTcp::shutdown_write() { (void)::shutdown(fd_, SHUT_WR); }
void HostTcp::reset_on_close() {
  linger l{1, 0};
  (void)::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}
Endpoint HostTcp::local() const { return sock_name(fd_, false); }
Endpoint HostTcp::peer() const { return sock_name(fd_, true); }

HostUdp::HostUdp(core::Loop& loop, int fd) : fd_(fd), poll_(loop, fd) {}

HostUdp::~HostUdp() {
  poll_.close();
  ::close(fd_);
}

Result<std::unique_ptr<HostUdp>> HostUdp::bind(core::Loop& loop, const Endpoint& at) {
  auto fd = open_bound(at, SOCK_DGRAM);
  if (!fd) return fd.error();
  return std::unique_ptr<HostUdp>(new HostUdp(loop, *fd));
}

Result<std::unique_ptr<HostUdp>> HostUdp::connect(core::Loop& loop, const Endpoint& dst) {
  sockaddr_storage ss{};
  socklen_t len = dst.to_sockaddr(&ss);
  if (len == 0) return Error(Errc::invalid_argument, "empty address");
  int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno("socket", errno);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int e = errno;
    ::close(fd);
    return Error::from_errno("connect " + dst.str(), e);
  }
  return std::unique_ptr<HostUdp>(new HostUdp(loop, fd));
}

Result<void> HostUdp::send(std::span<const uint8_t> data) {
  if (::send(fd_, data.data(), data.size(), 0) < 0) {
    if (errno == ECONNREFUSED) return Error(Errc::closed, "port unreachable");
    return Error::from_errno("send", errno);
  }
  return {};
}

core::Task<Result<size_t>> HostUdp::recv_from(std::span<uint8_t> buf, Endpoint* from, core::CancelToken token) {
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), MSG_TRUNC, reinterpret_cast<sockaddr*>(&ss), &len);
    if (n >= 0) {
      *from = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
      co_return std::min(size_t(n), buf.size());
    }
    if (errno == ECONNREFUSED) co_return Error(Errc::not_found, "port unreachable");
    if (errno != EAGAIN && errno != EINTR) co_return Error::from_errno("recvfrom", errno);
    auto r = co_await poll_.until(UV_READABLE, token);
    if (!r) co_return r.error();
  }
}

Result<void> HostUdp::send_to(const Endpoint& to, std::span<const uint8_t> data) {
  sockaddr_storage ss{};
  socklen_t len = to.to_sockaddr(&ss);
  if (::sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) < 0)
    return Error::from_errno("sendto " + to.str(), errno);
  return {};
}

Endpoint HostUdp::local() const { return sock_name(fd_, false); }

}  // namespace ptun::relay
