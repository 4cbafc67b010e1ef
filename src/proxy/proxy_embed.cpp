// The proxy's resolve / route check / connect steps for the embedding API (src/embed): the same
// path a SOCKS5 CONNECT takes, without the SOCKS handshake around it.
#include "netstack/tcp_conn.hpp"
#include "proxy/proxy.hpp"

namespace ptun::proxy {

core::Task<Result<IpAddr>> Proxy::resolve_allowed(const std::string& host, core::CancelToken token) {
  Target t;
  if (auto a = IpAddr::parse(host)) t.addr = *a;
  else t.name = host;
  auto a = co_await resolve(t, token);
  if (!a) {
    if (!t.is_name()) co_return a.error();
    co_return Error(a.error().code, "cannot resolve '" + host + "': " + a.error().message);
  }
  if (!reach_.allows(*a)) {
    ++stats_.not_allowed;
    co_return Error(Errc::auth, a->str() + " is not routed through the tunnel");
  }
  co_return *a;
}

core::Task<Result<std::unique_ptr<netstack::TcpConn>>> Proxy::open_stream(const std::string& host, uint16_t port,
                                                                           core::CancelToken token) {
  auto a = co_await resolve_allowed(host, token);
  if (!a) co_return a.error();
  uint8_t code = 0;   // the SOCKS reply code: unused here, the error says it
  auto c = co_await open_tunnel(*a, port, &code, token);
  if (!c) co_return Error(c.error().code, Endpoint{*a, port}.str() + ": " + c.error().message);
  ++stats_.relayed;
  co_return std::move(*c);
}

}  // namespace ptun::proxy
