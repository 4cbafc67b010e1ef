#include "netcfg/dns_forwarder.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>

#include "common/log.hpp"
#include "core/loop.hpp"
#include "netcfg/dns_message.hpp"
#include "netcfg/dns_plan.hpp"

namespace ptun::netcfg {

ForwarderCore::ForwarderCore(std::vector<std::string> match_domains, std::vector<IpAddr> tunnel_servers,
                             std::vector<IpAddr> original_servers, std::function<uint32_t()> rand)
    : match_(std::move(match_domains)),
      tunnel_(std::move(tunnel_servers)),
      original_(std::move(original_servers)),
      rand_(std::move(rand)) {}

bool ForwarderCore::to_tunnel(const std::string& name) const {
  for (const auto& d : match_)
    if (name_matches(name, d)) return true;
  return false;
}

void ForwarderCore::expire(uint64_t now_ms) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline <= now_ms) {
      it = pending_.erase(it);
      ++stats_.expired;
    } else {
      ++it;
    }
  }
}

std::optional<Endpoint> ForwarderCore::on_query(std::span<uint8_t> msg, const Endpoint& client, uint64_t now_ms) {
  ++stats_.queries;
  auto q = parse_dns_query(msg);
  if (!q) {
    ++stats_.dropped_malformed;
    return std::nullopt;
  }
  bool tunnel = to_tunnel(q->name);
  const auto& ups = tunnel ? tunnel_ : original_;
  if (ups.empty()) {
    ++stats_.dropped_unknown;
    return std::nullopt;
  }
  if (pending_.size() >= kMaxPending) expire(now_ms);
  if (pending_.size() >= kMaxPending) {
    ++stats_.dropped_full;
    return std::nullopt;
  }
  uint16_t id = 0;
  for (int tries = 0; tries < 16; ++tries) {   // random ids: an off-path spoofer must guess
    id = uint16_t(rand_());
    if (!pending_.count(id)) break;
  }
  if (pending_.count(id)) {
    ++stats_.dropped_full;
    return std::nullopt;
  }
  Endpoint up{ups[rr_++ % ups.size()], 53};
  pending_[id] = Pending{q->id, client, up, now_ms + kTimeoutMs};
  set_dns_id(msg, id);
  ++(tunnel ? stats_.to_tunnel : stats_.to_original);
  return up;
}

std::optional<Endpoint> ForwarderCore::on_reply(std::span<uint8_t> msg, const Endpoint& from, uint64_t now_ms) {
  if (msg.size() < kDnsHeader || !(msg[2] & 0x80)) {
    ++stats_.dropped_malformed;
    return std::nullopt;
  }
  auto it = pending_.find(dns_id(msg));
  if (it == pending_.end() || !(it->second.upstream == from) || it->second.deadline <= now_ms) {
    ++stats_.dropped_unknown;
    return std::nullopt;
  }
  Endpoint client = it->second.client;
  set_dns_id(msg, it->second.client_id);
  pending_.erase(it);
  ++stats_.answers;
  return client;
}

// ---- I/O -------------------------------------------------------------------------------------

namespace {

int udp_socket(Family f) {
  return ::socket(f == Family::v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

// A uv_poll_t whose memory outlives the forwarder until libuv's close callback ran.
uv_poll_t* new_poll(uv_loop_t* loop, int fd, void* data) {
  auto* p = new uv_poll_t;
  if (uv_poll_init(loop, p, fd) != 0) {
    delete p;
    return nullptr;
  }
  p->data = data;
  return p;
}

void close_poll(uv_poll_t* p) {
  if (!p) return;
  p->data = nullptr;
  uv_poll_stop(p);
  uv_close(reinterpret_cast<uv_handle_t*>(p), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
}

}  // namespace

struct DnsForwarder::Impl {
  core::Loop& loop;
  ForwarderCore core;
  int listen_fd = -1, up_fd[2] = {-1, -1};   // up_fd[0]: IPv4 upstreams, [1]: IPv6
  uv_poll_t* poll[3] = {nullptr, nullptr, nullptr};

  Impl(core::Loop& l, ForwarderCore c) : loop(l), core(std::move(c)) {}
  ~Impl() {
    for (auto* p : poll) close_poll(p);
    for (int fd : {listen_fd, up_fd[0], up_fd[1]})
      if (fd >= 0) ::close(fd);
  }

  // Drains one socket: client queries on the listener, answers on the upstream sockets.
  void readable(int fd) {
    uint8_t buf[4096];
    for (int n = 0; n < 64; ++n) {   // bounded per wake-up; libuv calls again while readable
      sockaddr_storage ss{};
      socklen_t sl = sizeof ss;
      ssize_t len = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&ss), &sl);
      if (len < 0) return;
      Endpoint from = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
      std::span<uint8_t> msg(buf, size_t(len));
      uint64_t now = loop.now_ms();
      if (fd == listen_fd) {
        auto up = core.on_query(msg, from, now);
        if (!up) continue;
        int out = up_fd[up->addr.is_v4() ? 0 : 1];
        if (out < 0) continue;
        sockaddr_storage to{};
        socklen_t tl = up->to_sockaddr(&to);
        (void)::sendto(out, buf, size_t(len), 0, reinterpret_cast<sockaddr*>(&to), tl);
      } else {
        auto client = core.on_reply(msg, from, now);
        if (!client) continue;
        sockaddr_storage to{};
        socklen_t tl = client->to_sockaddr(&to);
        (void)::sendto(listen_fd, buf, size_t(len), 0, reinterpret_cast<sockaddr*>(&to), tl);
      }
    }
  }

  Result<void> watch(int idx, int fd) {
    poll[idx] = new_poll(loop.raw(), fd, this);
    if (!poll[idx]) return Error(Errc::io, "dns forwarder: uv_poll_init failed");
    uv_poll_start(poll[idx], UV_READABLE, [](uv_poll_t* p, int status, int) {
      auto* self = static_cast<Impl*>(p->data);
      if (self && status == 0) self->readable(uv_fileno_fd(p));
    });
    return {};
  }

  static int uv_fileno_fd(uv_poll_t* p) {
    uv_os_fd_t fd = -1;
    uv_fileno(reinterpret_cast<uv_handle_t*>(p), &fd);
    return fd;
  }
};

Result<std::unique_ptr<DnsForwarder>> DnsForwarder::start(core::Loop& loop, const Endpoint& listen,
                                                          ForwarderCore core) {
  auto impl = std::make_unique<Impl>(loop, std::move(core));
  impl->listen_fd = udp_socket(listen.addr.family);
  if (impl->listen_fd < 0) return Error::from_errno("dns forwarder: socket", errno);
  sockaddr_storage ss{};
  socklen_t sl = listen.to_sockaddr(&ss);
  if (::bind(impl->listen_fd, reinterpret_cast<sockaddr*>(&ss), sl) < 0)
    return Error::from_errno("dns forwarder: bind " + listen.str(), errno);
  impl->up_fd[0] = udp_socket(Family::v4);
  impl->up_fd[1] = udp_socket(Family::v6);   // may fail on a host without IPv6: then v4 only
  if (impl->up_fd[0] < 0) return Error::from_errno("dns forwarder: socket", errno);
  if (auto r = impl->watch(0, impl->listen_fd); !r) return r.error();
  if (auto r = impl->watch(1, impl->up_fd[0]); !r) return r.error();
  if (impl->up_fd[1] >= 0)
    if (auto r = impl->watch(2, impl->up_fd[1]); !r) return r.error();
  LOG_INFO("netcfg: split-DNS forwarder on %s", listen.str().c_str());
  return std::unique_ptr<DnsForwarder>(new DnsForwarder(std::move(impl)));
}

DnsForwarder::DnsForwarder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DnsForwarder::~DnsForwarder() = default;
const ForwarderStats& DnsForwarder::stats() const { return impl_->core.stats(); }

}  // namespace ptun::netcfg
