// Userspace mode (mode = "userspace"): no TUN, no root. The tunnel's end is the embedded lwIP
// stack, and applications reach it through the proxy (SOCKS5, HTTP CONNECT, port forwards).
//
//   app --> proxy (loopback) --> lwIP TcpConn/UdpConn --netif output--> run_userspace
//       --> the pipeline (MTU, MSS clamp) --> ClientSession --> server
//   server --> ClientSession --> deliver_packet --> the pipeline --> stack_->write_batch --> lwIP
//
// Pushed settings live in lwIP (addresses, MTU) and in the proxy (routes decide what may be
// reached, DNS servers resolve names in requests); nothing on the host changes.
#include "client/client.hpp"
#include "common/privileges.hpp"

namespace ptun::client {

Result<void> Client::setup_userspace() {
  if (hosting_.require_listeners && cfg_.proxy.socks5.empty() && cfg_.proxy.http.empty() && cfg_.forwards.empty())
    return Error(Errc::invalid_argument, "mode = \"userspace\" needs [proxy] listeners or [[forward]] rules");
  // Each proxied connection holds a descriptor: the usual soft limit (1024) would bite first.
  if (uint64_t fds = raise_fd_limit(); fds < uint64_t(cfg_.proxy.max_connections) + 64)
    LOG_WARN("client: the descriptor limit (%llu) is below [proxy] max_connections + 64",
             (unsigned long long)fds);
  netstack::NetstackOptions so;
  so.max_tcp = cfg_.proxy.max_connections;
  auto st = netstack::Netstack::create(loop_, so);
  if (!st) return st.error();
  stack_ = std::move(*st);
  dev_ = stack_.get();

  proxy::ProxyOptions po;
  po.socks_listen = cfg_.proxy.socks5;
  po.http_listen = cfg_.proxy.http;
  po.user = cfg_.proxy.username;
  po.pass = cfg_.proxy.password;
  po.max_conns = cfg_.proxy.max_connections;
  po.handshake_timeout_ms = uint64_t(cfg_.proxy.handshake_timeout_secs) * 1000;
  for (const auto& f : cfg_.forwards) po.forwards.push_back({f.listen, f.to, f.proto == "udp"});
  proxy_ = std::make_unique<proxy::Proxy>(loop_, *stack_, std::move(po));
  return proxy_->open();
}

Result<void> Client::apply_settings_userspace(const proto::NetworkSettings& s) {
  tun_mtu_ = cfg_.tunnel.mtu ? cfg_.tunnel.mtu : (s.mtu ? s.mtu : 1400);
  dp_.set_mtu(tun_mtu_, s.ipv4 ? std::optional(s.ipv4->addr) : std::nullopt,
              s.ipv6 ? std::optional(s.ipv6->addr) : std::nullopt);
  // A reconnect with other addresses aborts lwIP's connections bound to the old ones: correct,
  // they could not survive the change anyway.
  if (!applied_ || applied_->ipv4 != s.ipv4 || applied_->ipv6 != s.ipv6 || applied_->mtu != s.mtu)
    stack_->configure(s.ipv4, s.ipv6, tun_mtu_);
  std::vector<Cidr> inc = s.included_routes, exc = s.excluded_routes;
  inc.insert(inc.end(), cfg_.routes.include.begin(), cfg_.routes.include.end());
  exc.insert(exc.end(), cfg_.routes.exclude.begin(), cfg_.routes.exclude.end());
  std::vector<IpAddr> dns = s.dns_servers;
  dns.insert(dns.end(), cfg_.dns.servers.begin(), cfg_.dns.servers.end());
  proxy_->set_tunnel(proxy::Reach(std::move(inc), std::move(exc)), std::move(dns));
  applied_ = s;
  return {};
}

// Drains what lwIP sends into the session, drives lwIP's timers and runs the proxy.
core::Task<void> Client::run_userspace(core::CancelToken stop) {
  core::TaskScope scope(loop_, stop);
  scope.spawn(stack_->run_timers(scope.token()));
  scope.spawn(proxy_->run(scope.token()));
  co_await dp_.run_device(stop);
  scope.cancel();
  co_await scope.join();
}

}  // namespace ptun::client
