// One embedded connection each: open it inside the tunnel with the proxy's machinery, hand the
// program its end of a socketpair, relay ptun's end until either side is done.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "embed/loop_side.hpp"
#include "embed/status.hpp"
#include "netstack/tcp_conn.hpp"
#include "netstack/udp_conn.hpp"
#include "relay/relay.hpp"

namespace ptun::embed {
namespace {

// A socketpair; [1] (ptun's end) non-blocking for the loop, [0] blocking for the program.
Result<std::pair<int, int>> make_pair(int type) {
  int sv[2];
  if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0) return Error::from_errno("socketpair", errno);
  if (::fcntl(sv[1], F_SETFL, ::fcntl(sv[1], F_GETFL) | O_NONBLOCK) != 0) {
    int e = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    return Error::from_errno("fcntl", e);
  }
  return std::pair{sv[0], sv[1]};
}

// Cancels `attempt` after ms unless `stop` comes first: one deadline over several awaits.
core::Task<void> deadline(core::Loop& loop, uint64_t ms, core::CancelSource& attempt, bool* fired,
                          core::CancelToken stop) {
  // Not `if (co_await ...)`: g++ 12 mishandled that form here (the connection hung).
  auto slept = co_await core::sleep_for(loop, ms, stop);
  if (slept) {
    *fired = true;
    attempt.cancel();
  }
}

}  // namespace

core::Task<void> serve_tcp(core::Loop& loop, proxy::Proxy& p, std::unique_ptr<Job> job, core::CancelToken stop) {
  Result<std::unique_ptr<netstack::TcpConn>> conn = Error(Errc::cancelled, "");
  {
    core::CancelSource attempt(stop);
    core::TaskScope timer(loop, stop);
    bool fired = false;
    timer.spawn(deadline(loop, job->ms, attempt, &fired, timer.token()));
    conn = co_await p.open_stream(job->host, job->port, attempt.token());
    timer.cancel();
    co_await timer.join();
    if (!conn && fired)
      conn = Error(Errc::timeout, job->host + " port " + std::to_string(job->port) + ": no connection within " +
                                      std::to_string(job->ms) + " ms");
  }
  if (!conn) {
    job->socket.set_value(failed(to_status(conn.error())));
    co_return;
  }
  auto fds = make_pair(SOCK_STREAM);
  if (!fds) {
    job->socket.set_value(failed(to_status(fds.error())));
    co_return;
  }
  auto host = relay::HostTcp::adopt(loop, fds->second);   // owns and closes ptun's end
  job->socket.set_value(Socket{fds->first, {}});
  job.reset();
  co_await relay::relay_streams(loop, *host, **conn, {}, stop);
}

namespace {

struct UdpFlow {
  int fd;
  core::FdPoll& poll;
  netstack::UdpConn& conn;
  Endpoint dst;
  uint64_t idle_ms;
  uint64_t last_ms;
};

// Program -> tunnel: each message on the SEQPACKET socket is one datagram; 0 bytes = closed.
core::Task<void> udp_up(core::Loop& loop, UdpFlow& f, core::TaskScope& rs) {
  std::vector<uint8_t> buf(65536);
  for (;;) {
    auto ready = co_await f.poll.until(UV_READABLE, rs.token());
    if (!ready) break;
    for (;;) {
      ssize_t n = ::recv(f.fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
      if (n <= 0) {
        rs.cancel();
        co_return;
      }
      f.last_ms = loop.now_ms();
      (void)f.conn.send_to(f.dst, std::span(buf).first(size_t(n)));   // UDP: best effort
    }
  }
  rs.cancel();
}

// Tunnel -> program: replies from dst only; dropped when the program does not read (UDP).
core::Task<void> udp_down(core::Loop& loop, UdpFlow& f, core::TaskScope& rs) {
  for (;;) {
    auto d = co_await f.conn.recv(f.last_ms + f.idle_ms, rs.token());
    if (!d) {
      if (d.error().code == Errc::timeout && loop.now_ms() < f.last_ms + f.idle_ms) continue;
      break;   // idle (or cancelled)
    }
    if (!(d->from == f.dst)) continue;
    f.last_ms = loop.now_ms();
    if (::send(f.fd, d->data.data(), d->data.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN) break;
  }
  rs.cancel();
}

}  // namespace

core::Task<void> serve_udp(core::Loop& loop, proxy::Proxy& p, netstack::Netstack& st, std::unique_ptr<Job> job,
                           core::CancelToken stop) {
  auto a = co_await p.resolve_allowed(job->host, stop);
  if (!a) {
    job->socket.set_value(failed(to_status(a.error())));
    co_return;
  }
  auto conn = netstack::UdpConn::open(st, a->family);
  if (!conn) {
    job->socket.set_value(failed(to_status(conn.error())));
    co_return;
  }
  auto fds = make_pair(SOCK_SEQPACKET);
  if (!fds) {
    job->socket.set_value(failed(to_status(fds.error())));
    co_return;
  }
  core::FdPoll poll(loop, fds->second);
  UdpFlow f{fds->second, poll, **conn, Endpoint{*a, job->port}, job->ms, loop.now_ms()};
  job->socket.set_value(Socket{fds->first, {}});
  job.reset();
  {
    core::TaskScope rs(loop, stop);
    rs.spawn(udp_up(loop, f, rs));
    rs.spawn(udp_down(loop, f, rs));
    co_await rs.join();
  }
  poll.close();   // before the fd goes: the program's end then reads EOF
  ::close(fds->second);
}

}  // namespace ptun::embed
