#include "core/udp_socket.hpp"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

namespace ptun::core {

namespace {

// Tries the privileged FORCE variant first (ignores net.core.{r,w}mem_max), then the plain one.
void set_buffer(int fd, int force_opt, int opt, int bytes, const char* name) {
  if (bytes <= 0) return;
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) == 0) return;
  if (setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes) != 0)
    LOG_DEBUG("core: udp %s=%d: %s", name, bytes, std::strerror(errno));
}

Error sock_error(const char* what, const Endpoint& ep, int err) {
  return Error::from_errno(std::string("udp ") + what + " " + ep.str(), err);
}

// The destination sockaddr for `peer` on a socket of `family`: IPv4 peers are v4-mapped on
// IPv6 sockets (dual-stack). Returns the length, 0 if the peer cannot be expressed.
socklen_t peer_sockaddr(const Endpoint& peer, int family, sockaddr_storage* ss) {
  if (family == AF_INET6 && peer.addr.is_v4()) {
    std::memset(ss, 0, sizeof *ss);
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(peer.port);
    uint8_t* b = reinterpret_cast<uint8_t*>(&sin6->sin6_addr);
    b[10] = b[11] = 0xff;
    std::memcpy(b + 12, peer.addr.bytes.data(), 4);
    return sizeof(sockaddr_in6);
  }
  return peer.to_sockaddr(ss);
}

// The address a socket is bound to (with the kernel-chosen port); false if getsockname failed.
bool local_address(int fd, Endpoint* out) {
  sockaddr_storage got;
  socklen_t got_len = sizeof got;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&got), &got_len) != 0) return false;
  *out = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&got));
  return true;
}

bool queued_icmp_error(int err) {
  // Errors queued on the socket by ICMP; the failed call consumed them, the socket is fine.
  return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH || err == EHOSTDOWN ||
         err == ENETDOWN || err == EPROTO;
}

}  // namespace

Result<int> UdpSocket::open_socket(const Endpoint& local, const UdpOptions& opts, Endpoint* bound) {
  sockaddr_storage ss;
  socklen_t len = local.to_sockaddr(&ss);
  if (len == 0) return Error(Errc::invalid_argument, "udp bind: empty local endpoint");
  int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return sock_error("socket", local, errno);
  auto fail = [&](const char* what) -> Result<int> {
    int err = errno;
    ::close(fd);
    return sock_error(what, local, err);
  };
  int one = 1;
  if (ss.ss_family == AF_INET6) {
    int v6only = opts.v6only ? 1 : 0;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0)
      return fail("IPV6_V6ONLY");
  }
  if (opts.reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    return fail("SO_REUSEPORT");
  if (opts.fwmark != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &opts.fwmark, sizeof opts.fwmark) != 0)
    return fail("SO_MARK");
  set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, opts.rcvbuf, "SO_RCVBUF");
  set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, opts.sndbuf, "SO_SNDBUF");
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) return fail("bind");
  if (!local_address(fd, bound)) return fail("getsockname");
  // from_sockaddr reports v4-mapped as IPv4; a socket bound to ::ffff:a.b.c.d stays IPv6 family.
  return fd;
}

Result<std::unique_ptr<UdpSocket>> UdpSocket::bind(Loop& loop, const Endpoint& local,
                                                   const UdpOptions& opts) {
  Endpoint bound;
  Result<int> fd = open_socket(local, opts, &bound);
  if (!fd) return fd.error();
  int family = local.addr.is_v6() ? AF_INET6 : AF_INET;
  return std::unique_ptr<UdpSocket>(new UdpSocket(loop, *fd, family, bound, opts));
}

UdpSocket::UdpSocket(Loop& loop, int fd, int family, const Endpoint& local, const UdpOptions& opts)
    : loop_(loop), fd_(fd), family_(family), local_(local), opts_(opts), poll_(loop, fd) {
  // The constant parts of the batch headers, set once.
  for (size_t i = 0; i < limits::kBatch; ++i) {
    rx_msgs_[i].msg_hdr.msg_iov = &rx_iov_[i];
    rx_msgs_[i].msg_hdr.msg_iovlen = 1;
    tx_msgs_[i].msg_hdr.msg_iov = &tx_iov_[i];
    tx_msgs_[i].msg_hdr.msg_iovlen = 1;
    tx_msgs_[i].msg_hdr.msg_name = &tx_addr_[i];
  }
}

UdpSocket::~UdpSocket() { close(); }

void UdpSocket::close() {
  if (fd_ < 0) return;
  poll_.close();  // stops watching the fd synchronously; waiters complete with Errc::closed
  ::close(fd_);
  fd_ = -1;
}

Result<uint16_t> UdpSocket::connect_fd(const Endpoint& peer) {
  sockaddr_storage ss;
  const socklen_t len = peer_sockaddr(peer, family_, &ss);
  if (len == 0) return Error(Errc::invalid_argument, "udp connect: empty peer");
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) return sock_error("connect", peer, errno);
  Endpoint now;
  if (!local_address(fd_, &now)) return sock_error("getsockname", peer, errno);
  return now.port;
}

Result<void> UdpSocket::connect(const Endpoint& peer) {
  if (fd_ < 0) return closed_error();
  if (peer_ && *peer_ == peer) return ok();
  if (peer_) {
    // Reconnecting straight away would keep the source address the first connect chose.
    sockaddr unspec{};
    unspec.sa_family = AF_UNSPEC;
    if (::connect(fd_, &unspec, sizeof unspec) != 0) return sock_error("disconnect from", *peer_, errno);
    peer_.reset();
  }
  Result<uint16_t> port = connect_fd(peer);
  if (!port) return port.error();
  local_.port = *port;   // the bound address stays the wildcard (roaming rebinds to it)
  peer_ = peer;
  return ok();
}

Result<void> UdpSocket::rebind(const Endpoint& local) {
  if (fd_ < 0) return closed_error();
  Endpoint bound;
  Result<int> fd = open_socket(local, opts_, &bound);
  if (!fd) return fd.error();
  ++generation_;  // before waking waiters, so they know to carry on with the new socket
  poll_.close();
  ::close(fd_);
  fd_ = *fd;
  drained_ = false;
  const int old_family = family_;
  family_ = local.addr.is_v6() ? AF_INET6 : AF_INET;
  local_ = bound;
  poll_ = FdPoll(loop_, fd_);
  const std::optional<Endpoint> peer = std::exchange(peer_, std::nullopt);
  // The same peer again; a socket of the other family is for another peer (the caller connects).
  if (peer && family_ == old_family)
    if (auto r = connect(*peer); !r) LOG_DEBUG("core: %s: unconnected after rebind", r.error().message.c_str());
  return ok();
}

Result<size_t> UdpSocket::try_recv_batch(std::span<Datagram> out) {
  if (fd_ < 0) return closed_error();
  const size_t n_max = std::min(out.size(), limits::kBatch);
  if (n_max == 0) return size_t(0);
  for (;;) {
    for (size_t i = 0; i < n_max; ++i) {
      PacketBuf* b = out[i].buf;
      b->reset();
      rx_iov_[i] = {b->data(), b->tailroom()};
      msghdr& h = rx_msgs_[i].msg_hdr;
      h.msg_name = &rx_addr_[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_control = nullptr;
      h.msg_controllen = 0;
      h.msg_flags = 0;
    }
    int n = ::recvmmsg(fd_, rx_msgs_.data(), unsigned(n_max), 0, nullptr);
    ++rx_calls_;
    drained_ = n < int(n_max);
    if (n < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return size_t(0);
      if (err == EINTR) continue;
      if (queued_icmp_error(err)) {
        ++rx_icmp_errors_;
        continue;
      }
      return Error::from_errno("udp recvmmsg", err);
    }
    size_t kept = 0;
    for (size_t i = 0; i < size_t(n); ++i) {
      if (rx_msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) {
        ++rx_truncated_;
        continue;
      }
      if (kept != i) std::swap(out[kept].buf, out[i].buf);
      out[kept].buf->len = rx_msgs_[i].msg_len;
      out[kept].peer = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&rx_addr_[i]));
      ++kept;
    }
    if (kept > 0 || n == 0) return kept;
    // Everything in this batch was truncated: look again rather than report "nothing ready".
  }
}

Task<Result<size_t>> UdpSocket::recv_batch(std::span<Datagram> out, CancelToken token) {
  // With no room, readiness would never be consumed and the wait would spin.
  if (out.empty()) co_return Error(Errc::invalid_argument, "udp recv_batch: no buffers");
  for (;;) {
    if (token.cancelled()) co_return cancelled_error();
    if (!drained_) {
      Result<size_t> r = try_recv_batch(out);
      if (!r || *r > 0) co_return r;
    }
    drained_ = false;   // whatever the wait ends with, the next pass reads
    uint64_t gen = generation_;
    Result<int> w = co_await poll_.until(UV_READABLE, token);
    if (!w && !(w.error().code == Errc::closed && fd_ >= 0 && gen != generation_))
      co_return w.error();
  }
}

Task<Result<void>> UdpSocket::wait_writable(CancelToken token) {
  for (;;) {
    uint64_t gen = generation_;
    Result<int> w = co_await poll_.until(UV_WRITABLE, token);
    if (w) co_return ok();
    if (!(w.error().code == Errc::closed && fd_ >= 0 && gen != generation_)) co_return w.error();
  }
}

Result<size_t> UdpSocket::send_batch(std::span<const Datagram> dgrams) {
  if (fd_ < 0) return closed_error();
  // Limits of one UDP GSO message: the kernel's UDP_MAX_SEGMENTS and a 64 KiB skb.
  constexpr size_t kMaxSegments = 64, kMaxGsoBytes = 65000;
  size_t done = 0;
  bool icmp_retried = false;
  while (done < dgrams.size()) {
    size_t nmsg = 0, iov = 0, idx = done;
    while (idx < dgrams.size() && nmsg < limits::kBatch && iov < limits::kBatch) {
      const Datagram& first = dgrams[idx];
      const size_t seg = first.buf->len;
      size_t k = 1, bytes = seg;
      if (gso_) {
        // Equal-sized datagrams to the same peer; a shorter one may end the group.
        while (idx + k < dgrams.size() && k < kMaxSegments && iov + k < limits::kBatch) {
          const Datagram& d = dgrams[idx + k];
          if (d.buf->len > seg || d.buf->len == 0 || bytes + d.buf->len > kMaxGsoBytes || !(d.peer == first.peer))
            break;
          bytes += d.buf->len;
          ++k;
          if (d.buf->len < seg) break;
        }
      }
      for (size_t i = 0; i < k; ++i) {
        const Datagram& d = dgrams[idx + i];
        tx_iov_[iov + i] = {const_cast<uint8_t*>(d.buf->data()), d.buf->len};
      }
      msghdr& h = tx_msgs_[nmsg].msg_hdr;
      if (peer_ && first.peer == *peer_) {   // the connected peer: the socket's cached route
        h.msg_name = nullptr;
        h.msg_namelen = 0;
      } else {
        h.msg_name = &tx_addr_[nmsg];
        h.msg_namelen = peer_sockaddr(first.peer, family_, &tx_addr_[nmsg]);
      }
      h.msg_iov = &tx_iov_[iov];
      h.msg_iovlen = k;
      h.msg_flags = 0;
      if (k > 1) {
        h.msg_control = tx_cmsg_[nmsg].buf;
        h.msg_controllen = sizeof tx_cmsg_[nmsg].buf;
        cmsghdr* c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t gso_size = uint16_t(seg);
        std::memcpy(CMSG_DATA(c), &gso_size, sizeof gso_size);
      } else {
        h.msg_control = nullptr;
        h.msg_controllen = 0;
      }
      tx_count_[nmsg] = uint16_t(k);
      ++nmsg;
      iov += k;
      idx += k;
    }
    int n = ::sendmmsg(fd_, tx_msgs_.data(), unsigned(nmsg), 0);
    if (n >= 0) {
      // A short count means the next message failed: the next round reports why.
      for (int m = 0; m < n; ++m) {
        done += tx_count_[size_t(m)];
        if (tx_count_[size_t(m)] > 1) ++tx_gso_sends_;
      }
      continue;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) break;
    if (peer_ && queued_icmp_error(err) && !icmp_retried) {
      // A connected socket's queued ICMP error, consumed by this call before it sent anything.
      ++tx_icmp_errors_;
      icmp_retried = true;
      continue;
    }
    if (err == EBADF || err == ENOTSOCK || err == EFAULT) return Error::from_errno("udp sendmmsg", err);
    if (tx_count_[0] > 1 && (err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP)) {
      // No UDP GSO on this kernel or path (e.g. no checksum offload): fall back for good.
      gso_ = false;
      gso_disabled_.store(true, std::memory_order_relaxed);
      LOG_INFO("core: UDP GSO unavailable (%s): sending datagrams one by one", std::strerror(err));
      continue;
    }
    // This message is refused (too big, no route, firewall, wrong family): drop it, go on.
    tx_dropped_ += tx_count_[0];
    uint64_t suppressed = 0;
    if (tx_log_limit_.allow(loop_.now_ms(), &suppressed))
      LOG_WARN("core: udp send to %s dropped: %s (%llu similar suppressed)",
               dgrams[done].peer.str().c_str(), std::strerror(err),
               static_cast<unsigned long long>(suppressed));
    done += tx_count_[0];
  }
  return done;
}

}  // namespace ptun::core
