// TCP for the fallback transport (docs/protocol.md §7): a non-blocking socket on FdPoll, with a
// bounded send queue. Byte streams only; the framing is proto/stream_frame.hpp's.
//
// Meltdown (TCP in TCP): the tunnel's own TCP flows retransmit end to end, so a send queue that
// grows without bound only adds delay to every flow behind it. send() takes a whole unit (a frame)
// or nothing: when the queue would exceed max_queue the unit is refused and the caller drops and
// counts it, as a full UDP socket buffer would.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "core/cancel.hpp"
#include "core/fd_poll.hpp"
#include "core/loop.hpp"
#include "core/task.hpp"

namespace ptun::core {

struct TcpOptions {
  uint32_t fwmark = 0;               // SO_MARK (needs CAP_NET_ADMIN), 0 = unset
  int sndbuf = 256 << 10;            // SO_SNDBUF; the kernel doubles it. 0 = kernel default
  size_t max_queue = 256 << 10;      // bytes held beyond what the kernel took
};

class TcpStream {
 public:
  // Non-blocking connect; completes when connected. Errors: Errc::io (refused, unreachable...),
  // Errc::cancelled (the caller's timeout).
  static Task<Result<std::unique_ptr<TcpStream>>> connect(Loop& loop, const Endpoint& to, const TcpOptions& opts,
                                                          CancelToken token = {});
  // An accepted, non-blocking fd (owned from now on).
  static std::unique_ptr<TcpStream> adopt(Loop& loop, int fd, const Endpoint& peer, const TcpOptions& opts);
  ~TcpStream();
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  // Reads what is there (waits for something): bytes read, 0 on EOF. Errc::closed after close().
  // While it waits it also drains the send queue as the socket becomes writable, so one
  // coroutine per stream does all its I/O: keep a read_some pending for the queue to move. The
  // stream must outlive the pending call; close() from elsewhere ends it (Errc::closed).
  Task<Result<size_t>> read_some(std::span<uint8_t> buf, CancelToken token = {});
  // Writes `bytes` now as far as the kernel takes them and queues the rest; false (nothing
  // written) when the queue would exceed max_queue, or the stream is closed or failed.
  bool send(std::span<const uint8_t> bytes);
  size_t queued() const { return q_.size() - q_off_; }
  // Whether send() would take `n` more bytes now (check before sealing a record into them).
  bool fits(size_t n) const { return queued() == 0 || queued() + n <= opts_.max_queue; }
  bool failed() const { return failed_; }
  bool is_open() const { return fd_ >= 0; }
  const Endpoint& peer() const { return peer_; }
  void close();

 private:
  TcpStream(Loop& loop, int fd, const Endpoint& peer, const TcpOptions& opts);
  bool flush();  // false: the socket failed

  Loop& loop_;
  int fd_;
  FdPoll poll_;
  Endpoint peer_;
  TcpOptions opts_;
  std::vector<uint8_t> q_;
  size_t q_off_ = 0;
  bool failed_ = false;
  CancelSource* rearm_ = nullptr;  // read_some's wait: cancelled to add UV_WRITABLE to it
};

class TcpListener {
 public:
  static Result<std::unique_ptr<TcpListener>> listen(Loop& loop, const Endpoint& local, int backlog = 128);
  ~TcpListener();
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  struct Accepted {
    int fd = -1;  // non-blocking; the caller owns it (TcpStream::adopt or ::close)
    Endpoint peer;
  };
  // The next connection. Errc::cancelled, Errc::closed, Errc::io (after EMFILE and the like the
  // caller should pause: the pending connection stays in the backlog).
  Task<Result<Accepted>> accept(CancelToken token = {});
  const Endpoint& local() const { return local_; }

 private:
  TcpListener(Loop& loop, int fd, const Endpoint& local) : fd_(fd), poll_(loop, fd), local_(local) {}
  int fd_;
  FdPoll poll_;
  Endpoint local_;
};

}  // namespace ptun::core
