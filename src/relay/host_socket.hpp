// The host side of the proxy: non-blocking TCP and UDP sockets on the loop, awaited through
// core::FdPoll (one poll per fd serves a concurrent reader and writer). Loopback listeners only
// by configuration; nothing here needs privileges.
#pragma once
#include <memory>
#include <span>

#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "core/core.hpp"

namespace ptun::relay {

class HostTcp {
 public:
  // Errc::io with the errno text (address in use, ...).
  static Result<std::unique_ptr<HostTcp>> listen(core::Loop& loop, const Endpoint& at, int backlog = 512);
  ~HostTcp();
  HostTcp(const HostTcp&) = delete;
  HostTcp& operator=(const HostTcp&) = delete;

  // An outbound connection (the server's userspace forwarding). Errors: Errc::closed "connection
  // refused", Errc::not_found (no route: host or network unreachable), Errc::io (anything else),
  // Errc::cancelled (the caller's deadline).
  static core::Task<Result<std::unique_ptr<HostTcp>>> connect(core::Loop& loop, Endpoint dst,
                                                              core::CancelToken token = {});
  // Wraps a connected non-blocking stream socket (e.g. one end of a socketpair); takes the fd.
  static std::unique_ptr<HostTcp> adopt(core::Loop& loop, int fd);
  core::Task<Result<std::unique_ptr<HostTcp>>> accept(core::CancelToken token = {});
  // Up to buf.size() bytes; 0 = EOF. Errors: Errc::io, cancelled, closed.
  core::Task<Result<size_t>> read_some(std::span<uint8_t> buf, core::CancelToken token = {});
  // Without waiting: Errc::would_block when nothing is pending (0 = EOF, as read_some).
  Result<size_t> try_read(std::span<uint8_t> buf);
  // The poll's own awaiter: no coroutine frame per wait on the relay's path.
  core::FdPoll::Awaiter wait_readable(core::CancelToken token = {}) { return poll_.until(UV_READABLE, std::move(token)); }
  core::Task<Result<void>> write_all(std::span<const uint8_t> data, core::CancelToken token = {});
  void shutdown_write();
  // Makes the close (destructor) send a reset instead of a FIN: the other side failed.
  void reset_on_close();
  Endpoint local() const;
  Endpoint peer() const;

 private:
  HostTcp(core::Loop& loop, int fd);
  core::Loop& loop_;
  int fd_;
  core::FdPoll poll_;
};

class HostUdp {
 public:
  static Result<std::unique_ptr<HostUdp>> bind(core::Loop& loop, const Endpoint& at);
  // A socket connected to dst (the kernel filters replies from anyone else), on an ephemeral port.
  static Result<std::unique_ptr<HostUdp>> connect(core::Loop& loop, const Endpoint& dst);
  ~HostUdp();
  HostUdp(const HostUdp&) = delete;
  HostUdp& operator=(const HostUdp&) = delete;
  // One datagram into buf (truncated if larger); *from is its sender. On a connected socket, an
  // ICMP port unreachable for an earlier datagram comes back as Errc::not_found.
  core::Task<Result<size_t>> recv_from(std::span<uint8_t> buf, Endpoint* from, core::CancelToken token = {});
  // Best effort: a full socket buffer drops the datagram (UDP).
  Result<void> send_to(const Endpoint& to, std::span<const uint8_t> data);
  // On a connected socket. ECONNREFUSED from an earlier ICMP error is reported as Errc::closed.
  Result<void> send(std::span<const uint8_t> data);
  Endpoint local() const;

 private:
  HostUdp(core::Loop& loop, int fd);
  int fd_;
  core::FdPoll poll_;
};

}  // namespace ptun::relay
