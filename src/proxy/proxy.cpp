// Proxy lifecycle: listeners, the connection cap, handshake deadlines, name resolution through
// the tunnel, connecting inside lwIP and the byte relay with back-pressure.
#include "proxy/proxy.hpp"
#include "relay/relay.hpp"

#include "common/log.hpp"
#include "netstack/netstack.hpp"
#include "netstack/tcp_conn.hpp"
#include "netstack/udp_conn.hpp"
#include "proxy/dns_codec.hpp"

namespace ptun::proxy {

Proxy::Proxy(core::Loop& loop, netstack::Netstack& stack, ProxyOptions opts)
    : loop_(loop), stack_(stack), opts_(std::move(opts)) {}

Proxy::~Proxy() = default;

Result<void> Proxy::open() {
  for (const auto& ep : opts_.socks_listen) {
    auto l = relay::HostTcp::listen(loop_, ep);
    if (!l) return l.error();
    socks_.push_back(std::move(*l));
  }
  for (const auto& ep : opts_.http_listen) {
    auto l = relay::HostTcp::listen(loop_, ep);
    if (!l) return l.error();
    http_.push_back(std::move(*l));
  }
  for (size_t i = 0; i < opts_.forwards.size(); ++i) {
    const auto& f = opts_.forwards[i];
    if (f.udp) {
      auto s = relay::HostUdp::bind(loop_, f.listen);
      if (!s) return s.error();
      udp_forwards_.emplace_back(std::move(*s), i);
    } else {
      auto l = relay::HostTcp::listen(loop_, f.listen);
      if (!l) return l.error();
      tcp_forwards_.push_back(std::move(*l));
      tcp_forward_rules_.push_back(i);
    }
  }
  return {};
}

Endpoint Proxy::socks_address(size_t n) const { return n < socks_.size() ? socks_[n]->local() : Endpoint{}; }

void Proxy::set_tunnel(Reach reach, std::vector<IpAddr> dns_servers) {
  reach_ = std::move(reach);
  dns_ = std::move(dns_servers);
}

core::Task<void> Proxy::run(core::CancelToken stop) {
  core::TaskScope scope(loop_, stop);
  for (auto& l : socks_) scope.spawn(run_accept(*l, Kind::socks, 0, scope));
  for (auto& l : http_) scope.spawn(run_accept(*l, Kind::http, 0, scope));
  for (size_t i = 0; i < tcp_forwards_.size(); ++i)
    scope.spawn(run_accept(*tcp_forwards_[i], Kind::forward, tcp_forward_rules_[i], scope));
  for (auto& [sock, idx] : udp_forwards_) scope.spawn(run_udp_forward(*sock, opts_.forwards[idx], scope.token()));
  co_await run_sweeper(stop);
  scope.cancel();
  co_await scope.join();
}

core::Task<void> Proxy::run_accept(relay::HostTcp& listener, Kind kind, size_t forward_index, core::TaskScope& scope) {
  for (;;) {
    auto c = co_await listener.accept(scope.token());
    if (!c) {
      if (c.error().code == Errc::cancelled || c.error().code == Errc::closed) break;
      LOG_WARN("proxy: accept: %s", c.error().message.c_str());
      continue;
    }
    ++stats_.accepted;
    if (active_ >= opts_.max_conns) {
      ++stats_.refused_cap;   // closed at once: a flood of idle clients cannot grow memory
      continue;
    }
    ++active_;   // counted here, not in serve(): a burst of accepts runs before any serve() starts
    scope.spawn(serve(std::move(*c), kind, forward_index, scope.token()));
  }
}

core::Task<void> Proxy::run_sweeper(core::CancelToken stop) {
  for (;;) {
    auto r = co_await core::sleep_for(loop_, 1000, stop);
    if (!r) break;
    uint64_t now = loop_.now_ms();
    for (Guard* g : guards_)
      if (now >= g->deadline && !g->expired) {
        g->expired = true;
        ++stats_.handshake_timeouts;
        g->cancel.cancel();
      }
  }
}

core::Task<void> Proxy::serve(std::unique_ptr<relay::HostTcp> client, Kind kind, size_t forward_index, core::CancelToken stop) {
  Guard g(stop, loop_.now_ms() + opts_.handshake_timeout_ms);
  guards_.push_front(&g);
  auto it = guards_.begin();
  if (kind == Kind::socks) co_await serve_socks(*client, g);
  else if (kind == Kind::http) co_await serve_http(*client, g);
  else co_await serve_forward(*client, opts_.forwards[forward_index], g);
  guards_.erase(it);
  --active_;
}

core::Task<Result<void>> Proxy::read_more(relay::HostTcp& c, std::vector<uint8_t>& buf, size_t max, core::CancelToken t) {
  if (buf.size() >= max) co_return Error(Errc::limit, "request too large");
  size_t old = buf.size();
  buf.resize(max);
  auto n = co_await c.read_some(std::span(buf).subspan(old), t);
  if (!n) {
    buf.resize(old);
    co_return n.error();
  }
  buf.resize(old + *n);
  if (*n == 0) co_return Error(Errc::closed, "client closed");
  co_return Result<void>{};
}

core::Task<Result<IpAddr>> Proxy::resolve(const Target& t, core::CancelToken token) {
  if (!t.is_name()) co_return t.addr;
  if (dns_.empty()) co_return Error(Errc::not_found, "the tunnel has no DNS servers");
  // Ask for the family the tunnel carries (IPv4 first).
  uint16_t qtype = stack_.address(Family::v4) ? kDnsTypeA : kDnsTypeAAAA;
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (const auto& server : dns_) {
      auto sock = netstack::UdpConn::open(stack_, server.family, 4);
      if (!sock) co_return sock.error();
      uint16_t id = uint16_t(rng_.u32());
      auto q = encode_dns_query(id, t.name, qtype);
      if (!q) co_return q.error();
      if (!(*sock)->send_to(Endpoint{server, 53}, *q)) continue;
      uint64_t deadline = loop_.now_ms() + 2000;
      for (;;) {
        auto d = co_await (*sock)->recv(deadline, token);
        if (!d) {
          if (d.error().code == Errc::cancelled) co_return d.error();
          break;   // timeout: next server
        }
        if (!(d->from == Endpoint{server, 53})) continue;
        auto a = decode_dns_response(d->data, id, qtype);
        if (a) co_return a->front();
        if (a.error().code == Errc::not_found) co_return a.error();
      }
    }
  }
  co_return Error(Errc::timeout, "no answer from the tunnel's DNS servers");
}

core::Task<Result<std::unique_ptr<netstack::TcpConn>>> Proxy::open_tunnel(const IpAddr& a, uint16_t port, uint8_t* code,
                                                                           core::CancelToken token) {
  if (!reach_.allows(a)) {
    ++stats_.not_allowed;
    *code = rep::not_allowed;
    co_return Error(Errc::auth, a.str() + " is not routed through the tunnel");
  }
  auto c = co_await netstack::TcpConn::connect(stack_, Endpoint{a, port}, opts_.connect_timeout_ms, token);
  if (!c) {
    ++stats_.connect_failures;
    switch (c.error().code) {
      case Errc::closed: *code = rep::refused; break;
      case Errc::timeout: *code = rep::host_unreachable; break;
      case Errc::unsupported: *code = rep::net_unreachable; break;
      default: *code = rep::general_failure; break;
    }
    co_return c.error();
  }
  *code = rep::succeeded;
  co_return std::move(*c);
}

core::Task<void> Proxy::relay(relay::HostTcp& host, netstack::TcpConn& conn, std::vector<uint8_t> pending, core::CancelToken token) {
  ++stats_.relayed;
  (void)co_await relay::relay_streams(loop_, host, conn, std::move(pending), token);
}

}  // namespace ptun::proxy
