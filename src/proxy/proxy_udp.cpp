// SOCKS5 UDP ASSOCIATE and static port forwards (TCP and UDP).
//
// UDP ASSOCIATE: a host UDP socket next to the client's control connection; datagrams from the
// client's address and port (UdpAssociation) carry a SOCKS header naming their destination, go out of one lwIP UDP socket
// per family, and replies come back with a header naming their source. The association ends
// when the control connection closes (RFC 1928 section 7).
#include "common/log.hpp"
#include "netstack/netstack.hpp"
#include "netstack/tcp_conn.hpp"
#include "netstack/udp_conn.hpp"
#include "proxy/proxy.hpp"
#include "proxy/udp_association.hpp"

namespace ptun::proxy {
namespace {

core::Task<void> watch_control(relay::HostTcp& c, core::TaskScope& rs) {
  std::array<uint8_t, 256> sink;
  for (;;) {
    auto n = co_await c.read_some(sink, rs.token());
    if (!n || *n == 0) break;
  }
  rs.cancel();
}

// Tunnel -> client: every datagram gets a SOCKS header naming its source.
core::Task<void> udp_down(netstack::UdpConn& conn, relay::HostUdp& sock, const UdpAssociation& assoc, core::CancelToken tok,
                          core::Loop& loop) {
  for (;;) {
    auto d = co_await conn.recv(loop.now_ms() + 3600 * 1000, tok);
    if (!d) {
      if (d.error().code == Errc::cancelled) break;
      continue;
    }
    auto out = encode_udp_header(d->from);
    out.insert(out.end(), d->data.begin(), d->data.end());
    if (assoc.client().port != 0) (void)sock.send_to(assoc.client(), out);
  }
}

}  // namespace

core::Task<void> Proxy::serve_udp_associate(relay::HostTcp& c, const Target& requested, Guard& g) {
  auto tok = g.cancel.token();
  Endpoint local = c.local();
  local.port = 0;
  auto sock = relay::HostUdp::bind(loop_, local);
  auto reply = encode_reply(sock ? rep::succeeded : rep::general_failure, sock ? (*sock)->local() : Endpoint{});
  if (!co_await c.write_all(reply, tok) || !sock) co_return;
  g.deadline = UINT64_MAX;
  UdpAssociation assoc(c.peer().addr, requested.port);   // udp_down holds a reference
  std::unique_ptr<netstack::UdpConn> conns[2];
  core::TaskScope rs(loop_, tok);
  rs.spawn(watch_control(c, rs));
  std::vector<uint8_t> buf(65536);
  for (;;) {
    Endpoint from;
    auto n = co_await (*sock)->recv_from(buf, &from, rs.token());
    if (!n) break;
    if (!assoc.accept(from)) {   // only the client that asked may use the relay
      ++stats_.udp_foreign;
      continue;
    }
    Target t;
    size_t hlen = 0;
    if (parse_udp_header(std::span(buf).first(*n), &hlen, &t) != Parse::ok) continue;
    auto a = co_await resolve(t, rs.token());
    if (!a || !reach_.allows(*a)) {
      if (a) ++stats_.not_allowed;
      continue;
    }
    auto& conn = conns[a->is_v4() ? 0 : 1];
    if (!conn) {
      auto u = netstack::UdpConn::open(stack_, a->family);
      if (!u) continue;
      conn = std::move(*u);
      rs.spawn(udp_down(*conn, **sock, assoc, rs.token(), loop_));
    }
    (void)conn->send_to(Endpoint{*a, t.port}, std::span(buf).subspan(hlen, *n - hlen));
  }
  rs.cancel();
  co_await rs.join();
}

core::Task<void> Proxy::serve_forward(relay::HostTcp& c, const ForwardRule& rule, Guard& g) {
  auto tok = g.cancel.token();
  uint8_t code = 0;
  auto conn = co_await open_tunnel(rule.to.addr, rule.to.port, &code, tok);
  if (!conn) {
    LOG_DEBUG("forward %s -> %s: %s", rule.listen.str().c_str(), rule.to.str().c_str(), conn.error().message.c_str());
    co_return;
  }
  g.deadline = UINT64_MAX;
  co_await relay(c, **conn, {}, tok);
}

namespace {

struct UdpFlow {
  std::unique_ptr<netstack::UdpConn> conn;
  uint64_t last = 0;
  bool done = false;
};

// Replies of one forwarded UDP flow go back to the host client that started it; the flow ends
// after `idle_ms` without traffic either way.
core::Task<void> udp_forward_down(UdpFlow& f, relay::HostUdp& sock, Endpoint client, uint64_t idle_ms, core::Loop& loop,
                                  core::CancelToken tok) {
  for (;;) {
    auto d = co_await f.conn->recv(f.last + idle_ms, tok);
    if (!d) {
      if (d.error().code == Errc::timeout && loop.now_ms() < f.last + idle_ms) continue;
      break;
    }
    f.last = loop.now_ms();
    (void)sock.send_to(client, d->data);
  }
  f.done = true;
}

}  // namespace

core::Task<void> Proxy::run_udp_forward(relay::HostUdp& sock, const ForwardRule& rule, core::CancelToken stop) {
  std::map<Endpoint, std::unique_ptr<UdpFlow>, bool (*)(const Endpoint&, const Endpoint&)> flows(
      [](const Endpoint& a, const Endpoint& b) { return a.str() < b.str(); });
  core::TaskScope rs(loop_, stop);
  std::vector<uint8_t> buf(65536);
  for (;;) {
    Endpoint from;
    auto n = co_await sock.recv_from(buf, &from, stop);
    if (!n) break;
    for (auto it = flows.begin(); it != flows.end();)   // flows whose reader ended (idle)
      it = it->second->done ? flows.erase(it) : std::next(it);
    if (!reach_.allows(rule.to.addr)) continue;
    auto& f = flows[from];
    if (!f) {
      if (flows.size() > opts_.max_conns) {
        flows.erase(from);
        continue;
      }
      auto u = netstack::UdpConn::open(stack_, rule.to.addr.family);
      if (!u) {
        flows.erase(from);
        continue;
      }
      f = std::make_unique<UdpFlow>();
      f->conn = std::move(*u);
      f->last = loop_.now_ms();
      rs.spawn(udp_forward_down(*f, sock, from, opts_.udp_idle_ms, loop_, rs.token()));
    }
    f->last = loop_.now_ms();
    (void)f->conn->send_to(rule.to, std::span(buf).first(*n));
  }
  rs.cancel();
  co_await rs.join();
}

}  // namespace ptun::proxy
