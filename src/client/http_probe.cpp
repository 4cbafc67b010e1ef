#include "client/http_probe.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/net_addr.hpp"
#include "ondemand/rules.hpp"

namespace ptun::client {
namespace {

core::Task<void> cancel_after(core::Loop& loop, uint64_t ms, core::CancelSource& src) {
  auto r = co_await core::sleep_for(loop, ms, src.token());
  if (r) src.cancel();
}

std::optional<Endpoint> resolve(const ondemand::HttpUrl& u) {
  if (auto a = IpAddr::parse(u.host)) return Endpoint{*a, u.port};
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(u.host.c_str(), nullptr, &hints, &res) != 0 || !res) return std::nullopt;
  Endpoint ep = Endpoint::from_sockaddr(res->ai_addr);
  ::freeaddrinfo(res);
  ep.port = u.port;
  return ep;
}

// The exchange itself; the caller owns the fd and the deadline.
core::Task<bool> exchange(core::Loop& loop, int fd, const Endpoint& ep, const ondemand::HttpUrl& u,
                          core::CancelToken deadline) {
  core::FdPoll poll(loop, fd);
  sockaddr_storage ss{};
  socklen_t len = ep.to_sockaddr(&ss);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0 && errno != EINPROGRESS) co_return false;
  if (!co_await poll.wait(UV_WRITABLE, deadline)) co_return false;
  int err = 0;
  socklen_t elen = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) co_return false;
  std::string req = "GET " + u.path + " HTTP/1.0\r\nHost: " + u.host + "\r\nUser-Agent: ptun-probe\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) co_return false;
  std::string head;
  char buf[512];
  while (head.find("\r\n") == std::string::npos && head.size() < 4096) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      head.append(buf, size_t(n));
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) break;
    if (!co_await poll.wait(UV_READABLE, deadline)) break;
  }
  poll.close();
  int status = http_status(head);
  co_return status >= 200 && status <= 299;
}

}  // namespace

int http_status(std::string_view head) {
  if (head.substr(0, 7) != "HTTP/1." || head.size() < 12 || head[8] != ' ') return -1;
  int v = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (head[i] < '0' || head[i] > '9') return -1;
    v = v * 10 + (head[i] - '0');
  }
  if (head.size() > 12 && head[12] != ' ' && head[12] != '\r') return -1;
  return v;
}

core::Task<bool> http_probe(core::Loop& loop, const std::string& url, uint32_t fwmark, uint64_t timeout_ms,
                            core::CancelToken stop) {
  ondemand::HttpUrl u;
  if (!ondemand::parse_http_url(url, &u)) co_return false;
  auto ep = resolve(u);
  if (!ep) co_return false;
  int fd = ::socket(ep->addr.is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) co_return false;
  if (fwmark) (void)::setsockopt(fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof fwmark);
  core::CancelSource deadline(stop);
  core::TaskScope timer(loop);
  timer.spawn(cancel_after(loop, timeout_ms, deadline));
  bool ok = co_await exchange(loop, fd, *ep, u, deadline.token());
  deadline.cancel();
  co_await timer.join();
  ::close(fd);
  co_return ok;
}

}  // namespace ptun::client
