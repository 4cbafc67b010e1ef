#include "core/tcp_stream.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "core/op.hpp"

namespace ptun::core {
namespace {

void set_nodelay(int fd) {
  int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // best effort
}

}  // namespace

TcpStream::TcpStream(Loop& loop, int fd, const Endpoint& peer, const TcpOptions& opts)
    : loop_(loop), fd_(fd), poll_(loop, fd), peer_(peer), opts_(opts) {}

TcpStream::~TcpStream() { close(); }

void TcpStream::close() {
  if (fd_ < 0) return;
  poll_.close();
  ::close(fd_);
  fd_ = -1;
}

std::unique_ptr<TcpStream> TcpStream::adopt(Loop& loop, int fd, const Endpoint& peer, const TcpOptions& opts) {
  set_nodelay(fd);
  if (opts.sndbuf > 0) (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &opts.sndbuf, sizeof opts.sndbuf);
  return std::unique_ptr<TcpStream>(new TcpStream(loop, fd, peer, opts));
}

Task<Result<std::unique_ptr<TcpStream>>> TcpStream::connect(Loop& loop, const Endpoint& to, const TcpOptions& opts,
                                                            CancelToken token) {
  sockaddr_storage ss;
  socklen_t len = to.to_sockaddr(&ss);
  if (len == 0) co_return Error(Errc::invalid_argument, "tcp connect: no address");
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) co_return Error::from_errno("tcp socket", errno);
  if (opts.fwmark != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &opts.fwmark, sizeof opts.fwmark) != 0) {
    int e = errno;
    ::close(fd);
    co_return Error::from_errno("tcp SO_MARK", e);
  }
  auto s = adopt(loop, fd, to, opts);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS)
    co_return Error::from_errno("tcp connect " + to.str(), errno);
  Result<int> w = co_await s->poll_.until(UV_WRITABLE, token);
  if (!w) co_return w.error();
  int err = 0;
  socklen_t el = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) err = errno;
  if (err != 0) co_return Error::from_errno("tcp connect " + to.str(), err);
  co_return std::move(s);
}

Task<Result<size_t>> TcpStream::read_some(std::span<uint8_t> buf, CancelToken token) {
  for (;;) {
    if (fd_ < 0) co_return closed_error();
    if (token.cancelled()) co_return cancelled_error();
    if (queued() && !flush()) co_return Error(Errc::io, "tcp send failed");
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n >= 0) co_return size_t(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      failed_ = true;
      co_return Error::from_errno("tcp recv", errno);
    }
    CancelSource rearm(token);
    rearm_ = &rearm;
    Result<int> w = co_await poll_.until(UV_READABLE | (queued() ? UV_WRITABLE : 0), rearm.token());
    rearm_ = nullptr;
    if (!w && !(w.error().code == Errc::cancelled && !token.cancelled())) co_return w.error();
  }
}

namespace {
// Writes what the kernel takes now (stops at EAGAIN); *failed when the socket broke.
size_t send_now(int fd, std::span<const uint8_t> bytes, bool* failed) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    *failed = true;
    break;
  }
  return off;
}
}  // namespace

bool TcpStream::flush() {
  q_off_ += send_now(fd_, std::span<const uint8_t>(q_).subspan(q_off_), &failed_);
  if (failed_) return false;
  if (q_off_ == q_.size()) {
    q_.clear();
    q_off_ = 0;
  } else if (q_off_ > (64 << 10) && q_off_ * 2 > q_.size()) {
    q_.erase(q_.begin(), q_.begin() + std::ptrdiff_t(q_off_));  // keep the buffer from creeping
    q_off_ = 0;
  }
  return true;
}

bool TcpStream::send(std::span<const uint8_t> bytes) {
  if (fd_ < 0 || failed_) return false;
  if (queued() == 0) {
    // The common case: straight to the kernel, no copy into the queue.
    size_t off = send_now(fd_, bytes, &failed_);
    if (failed_) {
      if (rearm_) rearm_->cancel();
      return off > 0;  // a partial unit went out: the stream is dead anyway
    }
    if (off == bytes.size()) return true;
    q_.assign(bytes.begin() + std::ptrdiff_t(off), bytes.end());
    q_off_ = 0;
    if (rearm_) rearm_->cancel();  // the pending read_some waits for writability too from now on
    return true;
  }
  if (queued() + bytes.size() > opts_.max_queue) return false;
  q_.insert(q_.end(), bytes.begin(), bytes.end());
  return true;
}

Result<std::unique_ptr<TcpListener>> TcpListener::listen(Loop& loop, const Endpoint& local, int backlog) {
  sockaddr_storage ss;
  socklen_t len = local.to_sockaddr(&ss);
  if (len == 0) return Error(Errc::invalid_argument, "tcp listen: no address");
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno("tcp socket", errno);
  int one = 1;
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ss.ss_family == AF_INET6) (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, backlog) != 0) {
    int e = errno;
    ::close(fd);
    return Error::from_errno("tcp listen " + local.str(), e);
  }
  sockaddr_storage got;
  socklen_t gl = sizeof got;
  Endpoint bound = local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&got), &gl) == 0) bound = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&got));
  return std::unique_ptr<TcpListener>(new TcpListener(loop, fd, bound));
}

TcpListener::~TcpListener() {
  poll_.close();
  ::close(fd_);
}

Task<Result<TcpListener::Accepted>> TcpListener::accept(CancelToken token) {
  for (;;) {
    if (token.cancelled()) co_return cancelled_error();
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) co_return Accepted{fd, Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss))};
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) co_return Error::from_errno("tcp accept", errno);
    Result<int> w = co_await poll_.until(UV_READABLE, token);
    if (!w) co_return w.error();
  }
}

}  // namespace ptun::core
