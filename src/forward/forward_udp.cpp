// UDP and ICMP echo: one connected host socket per flow (the kernel filters replies to it), the
// replies rebuilt as packets to the client. No lwIP involved: datagrams need no stream state.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log.hpp"
#include "forward/flow.hpp"
#include "packet/build.hpp"
#include "packet/wire.hpp"

namespace ptun::forward {
namespace {

size_t ip_udp_overhead(const IpAddr& a) { return a.is_v4() ? 28 : 48; }

// A ping socket: unprivileged ICMP echo, allowed for the groups in net.ipv4.ping_group_range.
Result<int> open_ping(const IpAddr& dst) {
  bool v4 = dst.is_v4();
  int fd = ::socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, v4 ? int(IPPROTO_ICMP) : int(IPPROTO_ICMPV6));
  if (fd < 0) return Error::from_errno("ping socket", errno);
  sockaddr_storage ss{};
  socklen_t len = Endpoint{dst, 0}.to_sockaddr(&ss);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int e = errno;
    ::close(fd);
    return Error::from_errno("connect " + dst.str(), e);
  }
  return fd;
}

}  // namespace

Forwarder::Flow* Forwarder::datagram_flow(const packet::Parsed& p, uint64_t idle_ms,
                                          core::Task<void> (Forwarder::*run)(Flow&),
                                          const std::function<bool(Flow&)>& attach) {
  packet::FlowKey key = packet::flow_key(p);
  if (auto it = flows_.find(key); it != flows_.end()) return it->second.get();
  if (!admit(p, udp_count_ + icmp_count_, opts_.max_udp)) return nullptr;
  Flow& f = add_flow(key, idle_ms);
  f.state = Flow::State::relaying;
  if (!attach(f)) {
    remove_flow(f);
    return nullptr;
  }
  scope_->spawn((this->*run)(f));
  return &f;
}

void Forwarder::handle_udp(std::span<const uint8_t> pkt, const packet::Parsed& p) {
  if (!p.has_l4) {
    ++stats_.dropped_malformed;
    return;
  }
  Flow* f = datagram_flow(p, opts_.udp_idle_ms, &Forwarder::run_udp, [&](Flow& nf) {
    auto s = relay::HostUdp::connect(loop_, Endpoint{p.dst, p.dport});
    if (!s) {
      ++stats_.refused_destination;   // e.g. no route from the server
      return false;
    }
    nf.udp = std::move(*s);
    ++stats_.udp_opened;
    return true;
  });
  if (!f) return;
  f->act.last_ms = loop_.now_ms();
  f->last_head.assign(pkt.begin(), pkt.begin() + long(std::min<size_t>(pkt.size(), p.l3_header_len + 8 + 64)));
  (void)f->udp->send(pkt.subspan(p.l3_header_len + 8, p.l4_len() - 8));   // best effort, like UDP
}

core::Task<void> Forwarder::run_udp(Flow& f) {
  const Endpoint from{f.key.dst, f.key.dport}, to{f.key.src, f.key.sport};
  // One byte more than the largest reply that fits the tunnel: a full buffer means too big.
  std::vector<uint8_t> buf(opts_.mtu - ip_udp_overhead(from.addr) + 1);
  for (;;) {
    Endpoint sender;
    auto n = co_await f.udp->recv_from(buf, &sender, f.cancel.token());
    if (!n) {
      if (n.error().code == Errc::cancelled || n.error().code == Errc::closed) break;
      if (n.error().code == Errc::not_found) {   // the destination said "port unreachable": tell the client
        emit([&](uint8_t* out, size_t cap) {
          size_t len = packet::build_port_unreachable(f.last_head, from.addr, out, std::min<size_t>(cap, opts_.mtu));
          if (len) ++stats_.udp_port_unreachable;
          return len;
        });
      }
      continue;   // the flow stays until idle
    }
    f.act.last_ms = loop_.now_ms();
    if (*n == buf.size()) {
      ++stats_.udp_reply_too_big;
      continue;
    }
    emit([&](uint8_t* out, size_t cap) { return packet::build_udp(from, to, std::span(buf).first(*n), out, cap); });
  }
  if (f.timed_out) ++stats_.udp_idle_closed;
  remove_flow(f);
}

void Forwarder::handle_icmp(std::span<const uint8_t> pkt, const packet::Parsed& p) {
  packet::EchoRequest e;
  if (!packet::parse_echo_request(pkt, p, &e)) {
    ++stats_.dropped_protocol;   // errors, neighbour discovery...: nothing to relay
    return;
  }
  if (classify_destination(p.dst, opts_.own) == Destination::own) {
    emit([&](uint8_t* out, size_t cap) {
      size_t n = packet::build_echo_reply(p.dst, p.src, e.id, e.seq, e.data, out, cap);
      if (n) ++stats_.echo_local;
      return n;
    });
    return;
  }
  if (ping_unavailable_) {
    ++stats_.echo_unavailable;
    return;
  }
  Flow* f = datagram_flow(p, opts_.icmp_idle_ms, &Forwarder::run_ping, [&](Flow& nf) {
    auto fd = open_ping(p.dst);
    if (!fd) {
      ++stats_.echo_unavailable;
      if (fd.error().message.find("ping socket") == 0) {
        ping_unavailable_ = true;
        LOG_WARN("forward: pings cannot be relayed (%s); allow the server's group in sysctl "
                 "net.ipv4.ping_group_range", fd.error().message.c_str());
      }
      return false;
    }
    nf.ping_fd = *fd;
    nf.ping_poll = std::make_unique<core::FdPoll>(loop_, *fd);
    return true;
  });
  if (!f) return;
  f->act.last_ms = loop_.now_ms();
  // The kernel fills in the identifier (the socket's) and the checksum; the data goes straight
  // from the client's packet (no copy).
  uint8_t hdr[8] = {uint8_t(p.family == Family::v4 ? 8 : 128), 0, 0, 0, 0, 0, 0, 0};
  packet::wire::store16(hdr + 6, e.seq);
  iovec iov[2] = {{hdr, sizeof hdr}, {const_cast<uint8_t*>(e.data.data()), e.data.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  (void)::sendmsg(f->ping_fd, &msg, 0);
}

core::Task<void> Forwarder::run_ping(Flow& f) {
  bool v4 = f.key.dst.is_v4();
  std::vector<uint8_t> buf(opts_.mtu - (v4 ? 20 : 40) + 1);
  for (;;) {
    ssize_t n = ::recv(f.ping_fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) continue;   // an ICMP error queued on the socket
      auto r = co_await f.ping_poll->until(UV_READABLE, f.cancel.token());
      if (!r) break;
      continue;
    }
    if (size_t(n) < 8 || size_t(n) == buf.size() || buf[0] != (v4 ? 0 : 129)) continue;
    f.act.last_ms = loop_.now_ms();
    uint16_t seq = packet::wire::load16(buf.data() + 6);
    emit([&](uint8_t* out, size_t cap) {
      size_t len = packet::build_echo_reply(f.key.dst, f.key.src, f.key.sport, seq,
                                            std::span(buf).subspan(8, size_t(n) - 8), out, cap);
      if (len) ++stats_.echo_relayed;
      return len;
    });
  }
  remove_flow(f);
}

}  // namespace ptun::forward
