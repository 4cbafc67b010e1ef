// UdpSocket: a UDP socket created and owned by ptun, batched with recvmmsg/sendmmsg straight
// into PacketBuf pool buffers, its readiness driven by one FdPoll. Not uv_udp: libuv slices its
// recvmmsg buffer in 64 KiB chunks, wasteful for 2 KiB packets, and has no batched try-send.
//
// No heap allocation per datagram or per batch: the mmsghdr/iovec/sockaddr arrays live in the
// object, sized limits::kBatch; larger spans are received up to kBatch / sent in chunks.
#pragma once
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "common/buffer_pool.hpp"
#include "common/limits.hpp"
#include "common/relaxed_counter.hpp"
#include "common/log.hpp"
#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "core/cancel.hpp"
#include "core/fd_poll.hpp"
#include "core/loop.hpp"
#include "core/task.hpp"

namespace ptun::core {

struct UdpOptions {
  bool v6only = true;      // IPv6 sockets only; false = dual-stack (IPv4 peers appear as IPv4)
  uint32_t fwmark = 0;     // SO_MARK (needs CAP_NET_ADMIN), 0 = unset
  int rcvbuf = 4 << 20;    // SO_RCVBUF(FORCE); 0 = kernel default
  int sndbuf = 4 << 20;    // SO_SNDBUF(FORCE); 0 = kernel default
  bool reuse_port = false; // SO_REUSEPORT
};

// One datagram in or out. For receive, `buf` is supplied by the caller and filled in place.
struct Datagram {
  PacketBuf* buf = nullptr;
  Endpoint peer;
};

// Counters for what the socket dropped on its own (read them for metrics).
struct UdpStats {
  uint64_t rx_truncated = 0;  // datagrams larger than the buffer's room: dropped
  uint64_t tx_dropped = 0;    // datagrams the kernel refused with a per-datagram error
  uint64_t tx_gso_sends = 0;  // messages that carried several datagrams with UDP_SEGMENT
  bool gso_disabled = false;  // the kernel/device refused UDP GSO once: plain sendmmsg since
  uint64_t rx_calls = 0;      // recvmmsg system calls made (data or EAGAIN)
  uint64_t icmp_errors = 0;   // errors the kernel queued from ICMP (connected socket: port
                              // unreachable, no route...), reported and consumed by a call
};

class UdpSocket {
 public:
  // Creates, configures and binds a socket (port 0 = ephemeral). Errors: Errc::invalid_argument
  // (empty endpoint), Errc::io (socket/setsockopt/bind failed, message says which).
  // A failing SO_MARK is an error; failing buffer sizes are not (logged at debug level).
  static Result<std::unique_ptr<UdpSocket>> bind(Loop& loop, const Endpoint& local,
                                                 const UdpOptions& opts = {});
  ~UdpSocket();
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  // The bound address (with the kernel-chosen port).
  Endpoint local_endpoint() const { return local_; }
  int fd() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  UdpStats stats() const {
    return {rx_truncated_, tx_dropped_.get(), tx_gso_sends_.get(), gso_disabled_.load(std::memory_order_relaxed),
            rx_calls_, rx_icmp_errors_ + tx_icmp_errors_.get()};
  }

  // Waits until readable (unless data is already there), then receives up to
  // min(out.size(), kBatch) datagrams: each out[i].buf is reset() first, the payload lands at
  // data() with len set, and out[i].peer is filled. Returns the count (>= 1), Errc::cancelled,
  // Errc::closed (close() was called), Errc::invalid_argument (empty `out`), or Errc::io. Truncated datagrams are dropped (counted):
  // the returned entries are compacted, so out[0..n) are all valid (buf pointers may be
  // permuted among the entries of `out`). A wait pending across rebind() carries on with the new
  // socket.
  Task<Result<size_t>> recv_batch(std::span<Datagram> out, CancelToken token = {});
  // Non-blocking variant: returns 0 when nothing is ready.
  Result<size_t> try_recv_batch(std::span<Datagram> out);
  // sendmmsg of all datagrams (buf->span() to peer), non-blocking, in chunks of kBatch. Returns
  // how many were consumed: sent, or refused by the kernel with a per-datagram error (e.g.
  // EMSGSIZE, ENETUNREACH, EPERM; counted in stats().tx_dropped and logged rate-limited). A short
  // count means the socket buffer is full (EAGAIN): co_await wait_writable() and send the rest,
  // or drop and count. Errc::closed after close(). IPv4 peers on a dual-stack socket are mapped.
  Result<size_t> send_batch(std::span<const Datagram> dgrams);
  // Completes when the socket is writable, Errc::cancelled, or Errc::closed.
  Task<Result<void>> wait_writable(CancelToken token = {});

  // Connects the socket to `peer` (an IPv4 peer of a dual-stack socket v4-mapped), as a client
  // with one server does. The kernel then sends to it on the route cached in the socket instead
  // of a lookup per message, finds the socket for its datagrams before the routing decision
  // (early demux), delivers nobody else's, and reports ICMP errors about it on the next call
  // (consumed, counted in stats().icmp_errors, never fatal). Datagrams to other peers still go,
  // with their address. Another peer first disconnects, which may change the local port.
  // Kept across rebind() to the same address family when the new socket can connect too. Call only while no other thread
  // sends on the socket (as for rebind). On failure (no route to `peer` yet...) the socket is
  // left unconnected and works as before.
  Result<void> connect(const Endpoint& peer);
  const std::optional<Endpoint>& connected_peer() const { return peer_; }

  // Roaming: creates a socket with the same options bound to `local` and replaces the current
  // one (which is closed). On failure the current socket is kept. Pending waits carry on with the
  // new socket (they are not failed).
  Result<void> rebind(const Endpoint& local);
  // Idempotent. Pending waits complete with Errc::closed; the poll handle is closed
  // asynchronously (kept alive until its close callback), the fd immediately after it is stopped.
  void close();

 private:
  UdpSocket(Loop& loop, int fd, int family, const Endpoint& local, const UdpOptions& opts);
  static Result<int> open_socket(const Endpoint& local, const UdpOptions& opts, Endpoint* bound);
  // connect(2) of fd_ to `peer`; the local port after it.
  Result<uint16_t> connect_fd(const Endpoint& peer);

  Loop& loop_;
  int fd_;
  int family_;
  Endpoint local_;
  UdpOptions opts_;
  FdPoll poll_;
  // send_batch may run on the pipeline's tx thread (one sender at a time, datapath/tx_thread.hpp)
  // while the loop receives and reads stats(): the transmit counters are atomics.
  uint64_t rx_truncated_ = 0;
  uint64_t rx_calls_ = 0;
  // The last recvmmsg returned fewer datagrams than it asked for: the queue was empty then, so
  // recv_batch waits for readiness (level-triggered) before reading again instead of spending a
  // system call on EAGAIN: one per wake-up, two per round trip through an idle tunnel.
  bool drained_ = false;
  uint64_t rx_icmp_errors_ = 0;
  std::optional<Endpoint> peer_;   // connect()ed to; read by send_batch on the tx thread
  RelaxedCounter tx_dropped_, tx_gso_sends_, tx_icmp_errors_;
  std::atomic<bool> gso_disabled_{false};
  uint64_t generation_ = 0;  // bumped by rebind(): tells waiters their FdPoll was replaced
  log::RateLimit tx_log_limit_;

  // Preallocated batch state (recv and send separately: a send may run while a recv waits).
  std::array<mmsghdr, limits::kBatch> rx_msgs_{};
  std::array<mmsghdr, limits::kBatch> tx_msgs_{};
  std::array<iovec, limits::kBatch> rx_iov_{};
  std::array<iovec, limits::kBatch> tx_iov_{};
  std::array<sockaddr_storage, limits::kBatch> rx_addr_{};
  std::array<sockaddr_storage, limits::kBatch> tx_addr_{};
  // UDP GSO: consecutive datagrams to one peer of one size go out as one message with a
  // UDP_SEGMENT control message; tx_count_[m] is how many datagrams message m carries.
  std::array<uint16_t, limits::kBatch> tx_count_{};
  struct alignas(cmsghdr) GsoCmsg {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
  };
  std::array<GsoCmsg, limits::kBatch> tx_cmsg_{};
  bool gso_ = true;
};

}  // namespace ptun::core
