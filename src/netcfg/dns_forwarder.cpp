#include "netcfg/dns_forwarder.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
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

void ForwarderCore::expire(uint64_t now_ms, std::vector<uint32_t>* expired) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline <= now_ms) {
      expired->push_back(it->first);
      it = pending_.erase(it);
      ++stats_.expired;
    } else {
      ++it;
    }
  }
}

uint64_t ForwarderCore::next_deadline() const {
  uint64_t d = UINT64_MAX;
  for (const auto& [key, p] : pending_) d = std::min(d, p.deadline);
  return d;
}

void ForwarderCore::cancel(uint32_t key) { pending_.erase(key); }

std::optional<ForwarderCore::Forward> ForwarderCore::on_query(std::span<uint8_t> msg, const Endpoint& client,
                                                              uint64_t now_ms) {
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
  if (pending_.size() >= kMaxPending) {
    ++stats_.dropped_full;
    return std::nullopt;
  }
  do {
    ++next_key_;
  } while (next_key_ == 0 || pending_.count(next_key_));
  // A random id on top of the random port: an off-path spoofer must guess both.
  uint16_t id = uint16_t(rand_());
  Endpoint up{ups[rr_++ % ups.size()], 53};
  pending_[next_key_] = Pending{q->id, id, client, up, now_ms + kTimeoutMs, std::move(q->name), q->qtype, q->qclass};
  set_dns_id(msg, id);
  ++(tunnel ? stats_.to_tunnel : stats_.to_original);
  return Forward{next_key_, up};
}

std::optional<Endpoint> ForwarderCore::on_reply(std::span<uint8_t> msg, uint32_t key, const Endpoint& from,
                                                uint64_t now_ms) {
  auto it = pending_.find(key);
  if (it == pending_.end() || !(it->second.upstream == from) || it->second.deadline <= now_ms) {
    ++stats_.dropped_unknown;
    return std::nullopt;
  }
  auto a = parse_dns_response(msg);
  if (!a) {
    ++stats_.dropped_malformed;
    return std::nullopt;
  }
  const Pending& p = it->second;
  if (a->id != p.upstream_id || a->name != p.name || a->qtype != p.qtype || a->qclass != p.qclass) {
    ++stats_.dropped_mismatch;
    return std::nullopt;
  }
  Endpoint client = p.client;
  set_dns_id(msg, p.client_id);
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
  // One query in flight: its own connected socket (a fresh random source port).
  struct Upstream {
    Impl* impl;
    uint32_t key;
    int fd = -1;
    uv_poll_t* poll = nullptr;
    ~Upstream() {
      close_poll(poll);
      if (fd >= 0) ::close(fd);
    }
  };

  core::Loop& loop;
  ForwarderCore core;
  int listen_fd = -1;
  uv_poll_t* listen_poll = nullptr;
  uv_timer_t* timer = nullptr;
  std::unordered_map<uint32_t, std::unique_ptr<Upstream>> upstreams;
  std::vector<uint32_t> expired;  // scratch

  Impl(core::Loop& l, ForwarderCore c) : loop(l), core(std::move(c)) {}
  ~Impl() {
    upstreams.clear();
    close_poll(listen_poll);
    if (listen_fd >= 0) ::close(listen_fd);
    if (timer) {
      timer->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(timer), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    }
  }

  void expire_now() {
    expired.clear();
    core.expire(loop.now_ms(), &expired);
    for (uint32_t key : expired) upstreams.erase(key);
  }

  // The timer follows the earliest deadline; stopped when nothing is pending.
  void arm() {
    ptun::core::start_timer_at(loop, timer, core.next_deadline(), [](uv_timer_t* t) {
      auto* self = static_cast<Impl*>(t->data);
      if (!self) return;
      self->expire_now();
      self->arm();
    });
  }

  // Client queries on the listener, bounded per wake-up; libuv calls again while readable.
  void on_listener() {
    uint8_t buf[4096];
    for (int n = 0; n < 64; ++n) {
      sockaddr_storage ss{};
      socklen_t sl = sizeof ss;
      ssize_t len = ::recvfrom(listen_fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&ss), &sl);
      if (len < 0) break;
      Endpoint from = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
      expire_now();
      auto fwd = core.on_query({buf, size_t(len)}, from, loop.now_ms());
      if (!fwd) continue;
      if (!send_upstream(*fwd, {buf, size_t(len)})) core.cancel(fwd->key);
    }
    arm();
  }

  bool send_upstream(const ForwarderCore::Forward& fwd, std::span<const uint8_t> msg) {
    auto u = std::make_unique<Upstream>();
    u->impl = this;
    u->key = fwd.key;
    u->fd = udp_socket(fwd.upstream.addr.family);
    if (u->fd < 0) return false;
    // connect() binds a random ephemeral port (Linux picks it at random) and makes the kernel
    // drop datagrams from any other source.
    sockaddr_storage to{};
    socklen_t tl = fwd.upstream.to_sockaddr(&to);
    if (::connect(u->fd, reinterpret_cast<sockaddr*>(&to), tl) < 0) return false;
    if (::send(u->fd, msg.data(), msg.size(), 0) < 0) return false;
    u->poll = new_poll(loop.raw(), u->fd, u.get());
    if (!u->poll) return false;
    uv_poll_start(u->poll, UV_READABLE, [](uv_poll_t* p, int status, int) {
      auto* up = static_cast<Upstream*>(p->data);
      if (up && status == 0) up->impl->on_answer(*up);
    });
    upstreams[fwd.key] = std::move(u);
    return true;
  }

  // Answers on a query's socket. Once one matches, the socket is closed (`u` is gone).
  void on_answer(Upstream& u) {
    uint8_t buf[4096];
    uint32_t key = u.key;
    for (int n = 0; n < 16; ++n) {
      sockaddr_storage ss{};
      socklen_t sl = sizeof ss;
      ssize_t len = ::recvfrom(u.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&ss), &sl);
      if (len < 0) return;  // EAGAIN, or ECONNREFUSED from an ICMP error: the timer cleans up
      Endpoint from = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
      auto client = core.on_reply({buf, size_t(len)}, key, from, loop.now_ms());
      if (!client) continue;
      sockaddr_storage to{};
      socklen_t tl = client->to_sockaddr(&to);
      (void)::sendto(listen_fd, buf, size_t(len), 0, reinterpret_cast<sockaddr*>(&to), tl);
      upstreams.erase(key);
      arm();
      return;
    }
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
  impl->timer = new uv_timer_t;
  uv_timer_init(loop.raw(), impl->timer);
  impl->timer->data = impl.get();
  impl->listen_poll = new_poll(loop.raw(), impl->listen_fd, impl.get());
  if (!impl->listen_poll) return Error(Errc::io, "dns forwarder: uv_poll_init failed");
  uv_poll_start(impl->listen_poll, UV_READABLE, [](uv_poll_t* p, int status, int) {
    auto* self = static_cast<Impl*>(p->data);
    if (self && status == 0) self->on_listener();
  });
  LOG_INFO("netcfg: split-DNS forwarder on %s", listen.str().c_str());
  return std::unique_ptr<DnsForwarder>(new DnsForwarder(std::move(impl)));
}

DnsForwarder::DnsForwarder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DnsForwarder::~DnsForwarder() = default;
const ForwarderStats& DnsForwarder::stats() const { return impl_->core.stats(); }

}  // namespace ptun::netcfg
