// SOCKS5 and HTTP CONNECT sessions: handshake under a deadline, then the relay.
#include "common/log.hpp"
#include "netstack/netstack.hpp"
#include "netstack/tcp_conn.hpp"
#include "netstack/udp_conn.hpp"
#include "proxy/proxy.hpp"

namespace ptun::proxy {
namespace {
constexpr size_t kMaxSocksHandshake = 600;   // greeting (257) + auth (513) never arrive together
bool same_secret(const std::string& a, const std::string& b) {
  unsigned diff = unsigned(a.size() ^ b.size());
  for (size_t i = 0; i < a.size(); ++i) diff |= unsigned(uint8_t(a[i]) ^ uint8_t(i < b.size() ? b[i] : 0));
  return diff == 0;
}
}  // namespace

core::Task<void> Proxy::serve_socks(relay::HostTcp& c, Guard& g) {
  auto tok = g.cancel.token();
  std::vector<uint8_t> buf;
  size_t used = 0;
  Greeting greet;
  for (;;) {
    Parse p = parse_greeting(buf, &used, &greet);
    if (p == Parse::ok) break;
    if (p == Parse::error || !co_await read_more(c, buf, kMaxSocksHandshake, tok)) {
      if (p == Parse::error) ++stats_.bad_requests;
      co_return;
    }
  }
  buf.erase(buf.begin(), buf.begin() + long(used));
  bool need_auth = !opts_.user.empty();
  uint8_t method = need_auth ? (greet.user_pass ? kMethodUserPass : kMethodNone)
                             : (greet.no_auth ? kMethodNoAuth : kMethodNone);
  std::vector<uint8_t> choice{5, method};
  if (!co_await c.write_all(choice, tok) || method == kMethodNone) co_return;
  if (need_auth) {
    Credentials cr;
    for (;;) {
      Parse p = parse_userpass(buf, &used, &cr);
      if (p == Parse::ok) break;
      if (p == Parse::error || !co_await read_more(c, buf, kMaxSocksHandshake, tok)) co_return;
    }
    buf.erase(buf.begin(), buf.begin() + long(used));
    bool good = same_secret(cr.user, opts_.user) & same_secret(cr.pass, opts_.pass);
    std::vector<uint8_t> status{1, uint8_t(good ? 0 : 1)};
    (void)co_await c.write_all(status, tok);
    if (!good) {
      ++stats_.auth_failures;
      co_return;
    }
  }
  Request req;
  uint8_t code = 0;
  for (;;) {
    Parse p = parse_request(buf, &used, &req, &code);
    if (p == Parse::ok) break;
    if (p == Parse::error) {
      ++stats_.bad_requests;
      auto r = encode_reply(code, {});
      (void)co_await c.write_all(r, tok);
      co_return;
    }
    if (!co_await read_more(c, buf, kMaxSocksHandshake, tok)) co_return;
  }
  buf.erase(buf.begin(), buf.begin() + long(used));
  if (req.cmd == kCmdUdpAssociate) {
    co_await serve_udp_associate(c, req.target, g);
    co_return;
  }
  if (req.cmd != kCmdConnect) {
    auto r = encode_reply(rep::cmd_unsupported, {});
    (void)co_await c.write_all(r, tok);
    co_return;
  }
  auto addr = co_await resolve(req.target, tok);
  if (!addr) {
    LOG_DEBUG("socks: %s: %s", req.target.str().c_str(), addr.error().message.c_str());
    auto r = encode_reply(rep::host_unreachable, {});
    (void)co_await c.write_all(r, tok);
    co_return;
  }
  auto conn = co_await open_tunnel(*addr, req.target.port, &code, tok);
  auto reply = encode_reply(code, conn ? (*conn)->local() : Endpoint{});
  if (!co_await c.write_all(reply, tok) || !conn) co_return;
  g.deadline = UINT64_MAX;   // handshake done: the relay has no deadline
  co_await relay(c, **conn, std::move(buf), tok);
}

core::Task<void> Proxy::serve_http(relay::HostTcp& c, Guard& g) {
  auto tok = g.cancel.token();
  std::vector<uint8_t> buf;
  size_t used = 0;
  Target t;
  std::string auth;
  auto answer = [&](std::string_view s) { return c.write_all({reinterpret_cast<const uint8_t*>(s.data()), s.size()}, tok); };
  for (;;) {
    Parse p = parse_http_connect(buf, &used, &t, &auth);
    if (p == Parse::ok) break;
    if (p == Parse::error) {
      ++stats_.bad_requests;
      (void)co_await answer("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      co_return;
    }
    if (!co_await read_more(c, buf, kMaxHttpHeader, tok)) co_return;
  }
  buf.erase(buf.begin(), buf.begin() + long(used));
  // The same credentials as SOCKS5 (username/password), as HTTP Basic (RFC 7235 Proxy-Authorization).
  if (!opts_.user.empty() && !same_secret(auth, http_basic_credentials(opts_.user, opts_.pass))) {
    ++stats_.auth_failures;
    (void)co_await answer("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"ptun\"\r\n"
                          "Connection: close\r\n\r\n");
    co_return;
  }
  auto addr = co_await resolve(t, tok);
  if (!addr) {
    (void)co_await answer("HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n");
    co_return;
  }
  uint8_t code = 0;
  auto conn = co_await open_tunnel(*addr, t.port, &code, tok);
  if (!conn) {
    (void)co_await answer(code == rep::not_allowed ? "HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n"
                          : code == rep::general_failure ? "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n"
                                                         : "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n");
    co_return;
  }
  if (!co_await answer("HTTP/1.1 200 Connection established\r\n\r\n")) co_return;
  g.deadline = UINT64_MAX;
  co_await relay(c, **conn, std::move(buf), tok);
}

}  // namespace ptun::proxy
