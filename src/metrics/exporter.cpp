#include "metrics/exporter.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/log.hpp"

namespace ptun::metrics {
namespace {

constexpr size_t kMaxHead = 8192;
constexpr uint64_t kConnectionMs = 2000;

std::string reply(const char* status, const std::string& ctype, const std::string& body) {
  return std::string("HTTP/1.0 ") + status + "\r\nContent-Type: " + ctype +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

core::Task<void> cancel_after(core::Loop& loop, uint64_t ms, core::CancelSource& src) {
  auto r = co_await core::sleep_for(loop, ms, src.token());
  if (r) src.cancel();
}

}  // namespace

std::string http_response(std::string_view head, const Exporter::Render& render) {
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos)
    return reply("400 Bad Request", "text/plain", "bad request\n");
  std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  if (target != "/metrics") return reply("404 Not Found", "text/plain", "try /metrics\n");
  if (method != "GET") return reply("405 Method Not Allowed", "text/plain", "GET only\n");
  return reply("200 OK", "text/plain; version=0.0.4; charset=utf-8", render());
}

Exporter::Exporter(core::Loop& loop, int fd, Endpoint local, Render render)
    : loop_(loop), fd_(fd), local_(local), render_(std::move(render)),
      poll_(std::make_unique<core::FdPoll>(loop, fd)) {}

Exporter::~Exporter() {
  poll_.reset();
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<Exporter>> Exporter::open(core::Loop& loop, const Endpoint& at, Render render) {
  sockaddr_storage ss{};
  socklen_t len = at.to_sockaddr(&ss);
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno("metrics socket", errno);
  int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0 || ::listen(fd, 16) < 0) {
    int e = errno;
    ::close(fd);
    return Error::from_errno("metrics_listen " + at.str(), e);
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
  return std::unique_ptr<Exporter>(
      new Exporter(loop, fd, Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&bound)), std::move(render)));
}

core::Task<void> Exporter::run(core::CancelToken stop) {
  core::TaskScope scope(loop_);
  while (!stop.cancelled()) {
    if (active_ >= kMaxConnections) {
      // Wait for a slot; a connection ends within kConnectionMs.
      auto r = co_await core::sleep_for(loop_, 50, stop);
      if (!r) break;
      continue;
    }
    auto ready = co_await poll_->wait(UV_READABLE, stop);
    if (!ready) break;
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) continue;   // EAGAIN (another wake-up took it) or a transient error
    ++active_;
    scope.spawn(serve(c, scope.token()));
  }
  scope.cancel();
  co_await scope.join();
}

core::Task<void> Exporter::serve(int fd, core::CancelToken stop) {
  core::CancelSource deadline(stop);
  core::TaskScope timer(loop_);
  timer.spawn(cancel_after(loop_, kConnectionMs, deadline));
  {
    core::FdPoll poll(loop_, fd);
    std::string head;
    char buf[2048];
    bool complete = false;
    while (!complete && head.size() < kMaxHead) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        head.append(buf, size_t(n));
        complete = head.find("\r\n\r\n") != std::string::npos || head.find("\n\n") != std::string::npos;
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) break;
      auto r = co_await poll.wait(UV_READABLE, deadline.token());
      if (!r) break;
    }
    if (complete) {
      std::string out = http_response(head, render_);
      size_t off = 0;
      while (off < out.size()) {
        ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
          off += size_t(n);
          continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) break;
        auto r = co_await poll.wait(UV_WRITABLE, deadline.token());
        if (!r) break;
      }
    }
    poll.close();
  }
  deadline.cancel();
  co_await timer.join();
  ::close(fd);
  --active_;
}

}  // namespace ptun::metrics
