#include "server/dns_proxy.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "common/log.hpp"
#include "core/loop.hpp"

namespace ptun::server {

namespace {

constexpr size_t kMaxQuery = 4096;                // a client's query (UDP datagram or TCP frame)
constexpr size_t kMaxAnswer = 65535;              // what an upstream may answer (TCP frame bound)
constexpr uint64_t kTcpIdleMs = 10000;            // RFC 7766 6.2.3: close idle client connections
constexpr size_t kMaxClientBacklog = 256 * 1024;  // unsent answers to one TCP client

// Memory of a libuv handle outlives its owner until libuv's close callback ran.
template <typename H>
void close_handle(H* h) {
  if (!h) return;
  h->data = nullptr;
  auto* base = reinterpret_cast<uv_handle_t*>(h);
  if (!uv_is_closing(base)) uv_close(base, [](uv_handle_t* x) { delete reinterpret_cast<H*>(x); });
}

// One reading buffer for every stream: the read callback consumes it before the next read.
void alloc_read(uv_handle_t*, size_t, uv_buf_t* buf) {
  static char storage[65536];
  buf->base = storage;
  buf->len = sizeof storage;
}

struct WriteReq {
  uv_write_t req;
  std::vector<uint8_t> data;
};

void write_frame(uv_tcp_t* h, std::span<const uint8_t> msg) {
  auto* w = new WriteReq;
  w->data = tcp_frame(msg);
  uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(w->data.data()), unsigned(w->data.size()));
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(h), &b, 1,
               [](uv_write_t* r, int) { delete reinterpret_cast<WriteReq*>(r); }) != 0)
    delete w;
}

// Listening sockets are bound to the tunnel device and may bind an address still in DAD.
Result<int> listening_socket(const Endpoint& at, int type, const std::string& device) {
  int fam = at.addr.is_v4() ? AF_INET : AF_INET6;
  int fd = ::socket(fam, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno("dns proxy: socket", errno);
  int one = 1;
  auto fail = [&](const char* what) {
    int e = errno;
    ::close(fd);
    return Error::from_errno(std::string("dns proxy: ") + what + " " + at.str(), e);
  };
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device.c_str(), socklen_t(device.size())) < 0)
    return fail("SO_BINDTODEVICE");
  if (::setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one) < 0) return fail("IP_FREEBIND");
  if (fam == AF_INET6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) return fail("IPV6_V6ONLY");
  if (type == SOCK_STREAM && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
    return fail("SO_REUSEADDR");
  sockaddr_storage ss{};
  socklen_t sl = at.to_sockaddr(&ss);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), sl) < 0) return fail("bind");
  return fd;
}

}  // namespace

struct DnsProxy::Impl {
  // One upstream attempt of one query: a connected UDP socket or a TCP connection of its own.
  struct Attempt {
    Impl* impl;
    uint32_t key;
    bool tcp;
    Endpoint upstream;
    int fd = -1;                 // UDP
    uv_poll_t* poll = nullptr;   // UDP
    uv_tcp_t* stream = nullptr;  // TCP
    TcpFramer framer{kMaxAnswer};
    ~Attempt() {
      close_handle(poll);
      if (fd >= 0) ::close(fd);
      close_handle(stream);
    }
  };
  // A client's TCP connection.
  struct Client {
    Impl* impl;
    uint64_t id;
    Endpoint peer;
    uv_tcp_t* stream = nullptr;
    TcpFramer framer{kMaxQuery};
    uint64_t last_ms = 0;
    ~Client() { close_handle(stream); }
  };
  struct UdpListener {
    int fd = -1;
    uv_poll_t* poll = nullptr;
    Family family;
  };

  core::Loop& loop;
  DnsProxyCore core;
  std::vector<UdpListener> udp;
  std::vector<uv_tcp_t*> tcp_listeners;
  uv_timer_t* timer = nullptr;       // the core's next deadline
  uv_timer_t* idle_timer = nullptr;  // idle TCP clients, every second while there are any
  std::unordered_map<uint32_t, std::unique_ptr<Attempt>> attempts;
  std::unordered_map<uint64_t, std::unique_ptr<Client>> clients;
  uint64_t next_conn = 0;
  std::vector<DnsProxyCore::Retry> retries;  // scratch
  std::vector<uint32_t> gone;                // scratch

  Impl(core::Loop& l, DnsProxyCore c) : loop(l), core(std::move(c)) {}
  ~Impl() {
    attempts.clear();
    clients.clear();
    for (auto& u : udp) {
      close_handle(u.poll);
      if (u.fd >= 0) ::close(u.fd);
    }
    for (auto* t : tcp_listeners) close_handle(t);
    close_handle(timer);
    close_handle(idle_timer);
  }

  // ---- timers ----

  void expire_now() {
    retries.clear();
    gone.clear();
    core.expire(loop.now_ms(), &retries, &gone);
    for (uint32_t key : gone) attempts.erase(key);
    for (const auto& r : retries) {
      auto it = attempts.find(r.key);
      bool tcp = it != attempts.end() && it->second->tcp;
      if (it != attempts.end()) attempts.erase(it);
      std::vector<uint8_t> msg(r.msg.begin(), r.msg.end());
      if (!send_upstream(r.key, r.upstream, tcp, msg)) core.cancel(r.key);
    }
  }

  void arm() {
    ptun::core::start_timer_at(loop, timer, core.next_deadline(), [](uv_timer_t* t) {
      auto* self = static_cast<Impl*>(t->data);
      if (!self) return;
      self->expire_now();
      self->arm();
    });
  }

  void sweep_idle() {
    uint64_t now = loop.now_ms();
    std::vector<uint64_t> idle;
    for (const auto& [id, c] : clients)
      if (now - c->last_ms >= kTcpIdleMs) idle.push_back(id);
    for (uint64_t id : idle) close_client(id);
    if (clients.empty()) uv_timer_stop(idle_timer);
  }

  // ---- upstream side ----

  bool send_upstream(uint32_t key, const Endpoint& upstream, bool tcp, std::span<const uint8_t> msg) {
    auto a = std::make_unique<Attempt>();
    a->impl = this;
    a->key = key;
    a->tcp = tcp;
    a->upstream = upstream;
    sockaddr_storage to{};
    socklen_t tl = upstream.to_sockaddr(&to);
    if (!tcp) {
      a->fd = ::socket(upstream.addr.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (a->fd < 0) return false;
      // connect() picks a random ephemeral port and makes the kernel drop other sources.
      if (::connect(a->fd, reinterpret_cast<sockaddr*>(&to), tl) < 0) return false;
      if (::send(a->fd, msg.data(), msg.size(), 0) < 0) return false;
      a->poll = new uv_poll_t;
      if (uv_poll_init(loop.raw(), a->poll, a->fd) != 0) {
        delete a->poll;
        a->poll = nullptr;
        return false;
      }
      a->poll->data = a.get();
      // libuv reports a socket error (the ICMP error of a connected socket) as a status < 0 and
      // stops the poll: recvfrom then says which error it was.
      uv_poll_start(a->poll, UV_READABLE, [](uv_poll_t* p, int, int) {
        if (auto* at = static_cast<Attempt*>(p->data)) at->impl->on_udp_answer(*at);
      });
    } else {
      a->stream = new uv_tcp_t;
      uv_tcp_init(loop.raw(), a->stream);
      a->stream->data = a.get();
      struct Connect {
        uv_connect_t req;
        std::vector<uint8_t> msg;
      };
      auto* c = new Connect{{}, std::vector<uint8_t>(msg.begin(), msg.end())};
      int rc = uv_tcp_connect(&c->req, a->stream, reinterpret_cast<sockaddr*>(&to), [](uv_connect_t* r, int status) {
        auto* c = reinterpret_cast<Connect*>(r);
        auto* at = static_cast<Attempt*>(r->handle->data);
        if (at && status == 0) {
          write_frame(at->stream, c->msg);
          uv_read_start(reinterpret_cast<uv_stream_t*>(at->stream), alloc_read,
                        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
                          auto* at = static_cast<Attempt*>(s->data);
                          if (at && n > 0) at->impl->on_tcp_answer(*at, {reinterpret_cast<uint8_t*>(buf->base), size_t(n)});
                          else if (at && n < 0) uv_read_stop(s);  // the timer moves on
                        });
        }
        if (at && status != 0 && status != UV_ECANCELED) at->impl->fail_fast(at->key);
        delete c;
      });
      if (rc != 0) {
        delete c;
        return false;
      }
    }
    attempts[key] = std::move(a);
    return true;
  }

  void on_udp_answer(Attempt& a) {
    static uint8_t buf[kMaxAnswer];
    uint32_t key = a.key;
    for (int n = 0; n < 16; ++n) {
      sockaddr_storage ss{};
      socklen_t sl = sizeof ss;
      ssize_t len = ::recvfrom(a.fd, buf, sizeof buf, MSG_TRUNC, reinterpret_cast<sockaddr*>(&ss), &sl);
      if (len < 0) {
        if (errno == ECONNREFUSED) fail_fast(key);  // ICMP port unreachable: next upstream now
        return;
      }
      if (size_t(len) > sizeof buf) continue;
      Endpoint from = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
      if (deliver(key, {buf, size_t(len)}, from)) return;  // `a` is gone
    }
  }

  void on_tcp_answer(Attempt& a, std::span<const uint8_t> bytes) {
    uint32_t key = a.key;
    Endpoint from = a.upstream;
    if (!a.framer.feed(bytes)) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(a.stream));
      return;
    }
    while (auto msg = a.framer.next())
      if (deliver(key, *msg, from)) return;  // `a` is gone
  }

  // The attempt's upstream refused: move on now rather than at its deadline. Destroys the attempt.
  void fail_fast(uint32_t key) {
    core.refused(key, loop.now_ms());
    expire_now();
    arm();
  }

  // An upstream answer for `key`: to its client if it matches. True when the attempt is done.
  bool deliver(uint32_t key, std::span<uint8_t> msg, const Endpoint& from) {
    auto reply = core.on_reply(msg, key, from, loop.now_ms());
    if (!reply) return false;
    attempts.erase(key);
    if (reply->conn == 0) {
      for (const auto& u : udp) {
        if (u.family != reply->client.addr.family) continue;
        sockaddr_storage to{};
        socklen_t tl = reply->client.to_sockaddr(&to);
        (void)::sendto(u.fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), tl);
        break;
      }
    } else if (auto it = clients.find(reply->conn); it != clients.end()) {
      Client& c = *it->second;
      c.last_ms = loop.now_ms();
      write_frame(c.stream, msg);
      if (uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(c.stream)) > kMaxClientBacklog)
        close_client(c.id);
    }
    arm();
    return true;
  }

  // ---- client side ----

  void query(std::span<uint8_t> msg, const Endpoint& from, uint64_t conn) {
    expire_now();
    auto s = core.on_query(msg, from, conn, loop.now_ms());
    if (s && !send_upstream(s->key, s->upstream, conn != 0, msg)) core.cancel(s->key);
  }

  void on_udp_query(UdpListener& u) {
    uint8_t buf[kMaxQuery];
    for (int n = 0; n < 64; ++n) {
      sockaddr_storage ss{};
      socklen_t sl = sizeof ss;
      ssize_t len = ::recvfrom(u.fd, buf, sizeof buf, MSG_TRUNC, reinterpret_cast<sockaddr*>(&ss), &sl);
      if (len < 0) break;
      Endpoint from = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
      if (size_t(len) > sizeof buf) len = 0;  // larger than any query: counted as malformed
      query({buf, size_t(len)}, from, 0);
    }
    arm();
  }

  void on_accept(uv_tcp_t* listener) {
    auto* h = new uv_tcp_t;
    uv_tcp_init(loop.raw(), h);
    h->data = nullptr;
    if (uv_accept(reinterpret_cast<uv_stream_t*>(listener), reinterpret_cast<uv_stream_t*>(h)) != 0) {
      close_handle(h);
      return;
    }
    sockaddr_storage ss{};
    int sl = sizeof ss;
    if (uv_tcp_getpeername(h, reinterpret_cast<sockaddr*>(&ss), &sl) != 0) {
      close_handle(h);
      return;
    }
    Endpoint peer = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
    if (!core.tcp_admit(peer.addr)) {
      close_handle(h);
      return;
    }
    auto c = std::make_unique<Client>();
    c->impl = this;
    c->id = ++next_conn;
    c->peer = peer;
    c->stream = h;
    c->last_ms = loop.now_ms();
    h->data = c.get();
    uv_read_start(reinterpret_cast<uv_stream_t*>(h), alloc_read, [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
      auto* c = static_cast<Client*>(s->data);
      if (!c) return;
      if (n < 0) {
        c->impl->close_client(c->id);
        return;
      }
      if (n > 0) c->impl->on_client_bytes(*c, {reinterpret_cast<uint8_t*>(buf->base), size_t(n)});
    });
    clients[c->id] = std::move(c);
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(idle_timer)))
      uv_timer_start(idle_timer, [](uv_timer_t* t) {
        if (auto* self = static_cast<Impl*>(t->data)) self->sweep_idle();
      }, 1000, 1000);
  }

  void on_client_bytes(Client& c, std::span<const uint8_t> bytes) {
    uint64_t id = c.id;
    c.last_ms = loop.now_ms();
    if (!c.framer.feed(bytes)) {
      core.tcp_bad_frame();
      close_client(id);
      return;
    }
    while (true) {
      auto it = clients.find(id);
      if (it == clients.end()) return;
      auto msg = it->second->framer.next();
      if (!msg) break;
      query(*msg, it->second->peer, id);
    }
    arm();
  }

  void close_client(uint64_t id) {
    auto it = clients.find(id);
    if (it == clients.end()) return;
    std::vector<uint32_t> keys;
    core.cancel_conn(id, &keys);
    for (uint32_t k : keys) attempts.erase(k);
    core.tcp_release(it->second->peer.addr);
    clients.erase(it);
  }
};

Result<std::unique_ptr<DnsProxy>> DnsProxy::start(core::Loop& loop, const Options& opt, DnsProxyCore core) {
  auto impl = std::make_unique<Impl>(loop, std::move(core));
  impl->timer = new uv_timer_t;
  uv_timer_init(loop.raw(), impl->timer);
  impl->timer->data = impl.get();
  impl->idle_timer = new uv_timer_t;
  uv_timer_init(loop.raw(), impl->idle_timer);
  impl->idle_timer->data = impl.get();
  for (const auto& addr : opt.listen) {
    Endpoint at{addr, opt.port};
    auto u = listening_socket(at, SOCK_DGRAM, opt.device);
    if (!u) return u.error();
    impl->udp.push_back({*u, nullptr, addr.family});
    auto& l = impl->udp.back();
    l.poll = new uv_poll_t;
    uv_poll_init(loop.raw(), l.poll, l.fd);
    l.poll->data = impl.get();
    auto t = listening_socket(at, SOCK_STREAM, opt.device);
    if (!t) return t.error();
    auto* h = new uv_tcp_t;
    uv_tcp_init(loop.raw(), h);
    h->data = impl.get();
    impl->tcp_listeners.push_back(h);
    if (int rc = uv_tcp_open(h, *t); rc != 0) {
      ::close(*t);
      return Error(Errc::io, "dns proxy: tcp " + at.str() + ": " + uv_strerror(rc));
    }
    if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(h), 64, [](uv_stream_t* s, int status) {
          auto* self = static_cast<Impl*>(s->data);
          if (self && status == 0) self->on_accept(reinterpret_cast<uv_tcp_t*>(s));
        });
        rc != 0)
      return Error(Errc::io, "dns proxy: listen " + at.str() + ": " + uv_strerror(rc));
    LOG_INFO("server: dns proxy on %s (udp, tcp) via %s", at.str().c_str(), opt.device.c_str());
  }
  // The UDP polls start once the vector no longer moves (each poll knows its listener by fd).
  for (auto& l : impl->udp) {
    uv_poll_start(l.poll, UV_READABLE, [](uv_poll_t* p, int status, int) {
      auto* self = static_cast<Impl*>(p->data);
      if (!self || status != 0) return;
      for (auto& u : self->udp)
        if (u.poll == p) self->on_udp_query(u);
    });
  }
  return std::unique_ptr<DnsProxy>(new DnsProxy(std::move(impl)));
}

DnsProxy::DnsProxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DnsProxy::~DnsProxy() = default;
void DnsProxy::set_upstreams(std::vector<IpAddr> upstreams) { impl_->core.set_upstreams(std::move(upstreams)); }
const std::vector<IpAddr>& DnsProxy::upstreams() const { return impl_->core.upstreams(); }
const DnsProxyStats& DnsProxy::stats() const { return impl_->core.stats(); }
size_t DnsProxy::pending() const { return impl_->core.pending(); }
size_t DnsProxy::tcp_clients() const { return impl_->clients.size(); }

}  // namespace ptun::server
