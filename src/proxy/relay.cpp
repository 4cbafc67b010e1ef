#include "proxy/relay.hpp"

#include "netstack/tcp_conn.hpp"

namespace ptun::proxy {
namespace {

constexpr size_t kChunk = 32768;

// The first failure wins; a cancellation caused by the other pump's failure is not one.
void fail(RelayEnd* end, RelayEnd why, core::TaskScope& rs) {
  if (*end == RelayEnd::closed) *end = why;
  rs.cancel();
}

core::Task<void> pump_up(core::Loop& loop, HostTcp& host, netstack::TcpConn& conn, std::vector<uint8_t> pending,
                         core::TaskScope& rs, RelayActivity* act, RelayEnd* end) {
  auto failed = [&](const Error& e, RelayEnd why) {
    fail(end, e.code == Errc::cancelled ? RelayEnd::cancelled : why, rs);
  };
  if (!pending.empty()) {
    if (auto w = co_await conn.write_all(pending, rs.token()); !w) {
      failed(w.error(), RelayEnd::tunnel_failed);
      co_return;
    }
  }
  std::vector<uint8_t> buf(kChunk);
  for (;;) {
    auto n = co_await host.read_some(buf, rs.token());
    if (!n) {
      failed(n.error(), RelayEnd::host_failed);
      break;
    }
    if (*n == 0) {
      conn.shutdown_write();
      break;
    }
    if (act) {
      act->last_ms = loop.now_ms();
      act->to_tunnel += *n;
    }
    if (auto w = co_await conn.write_all(std::span(buf).first(*n), rs.token()); !w) {
      failed(w.error(), RelayEnd::tunnel_failed);
      break;
    }
  }
}

core::Task<void> pump_down(core::Loop& loop, HostTcp& host, netstack::TcpConn& conn, core::TaskScope& rs,
                           RelayActivity* act, RelayEnd* end) {
  auto failed = [&](const Error& e, RelayEnd why) {
    fail(end, e.code == Errc::cancelled ? RelayEnd::cancelled : why, rs);
  };
  std::vector<uint8_t> buf(kChunk);
  for (;;) {
    auto n = co_await conn.read(buf, rs.token());
    if (!n) {
      failed(n.error(), RelayEnd::tunnel_failed);
      break;
    }
    if (*n == 0) {
      host.shutdown_write();
      break;
    }
    if (act) {
      act->last_ms = loop.now_ms();
      act->from_tunnel += *n;
    }
    if (auto w = co_await host.write_all(std::span(buf).first(*n), rs.token()); !w) {
      failed(w.error(), RelayEnd::host_failed);
      break;
    }
    conn.ack(*n);   // only now may lwIP reopen the window: back-pressure from the host side
  }
}

}  // namespace

core::Task<RelayEnd> relay_streams(core::Loop& loop, HostTcp& host, netstack::TcpConn& conn,
                                   std::vector<uint8_t> pending, core::CancelToken token, RelayActivity* activity) {
  if (activity) activity->last_ms = loop.now_ms();
  RelayEnd end = RelayEnd::closed;
  core::TaskScope rs(loop, token);
  rs.spawn(pump_up(loop, host, conn, std::move(pending), rs, activity, &end));
  rs.spawn(pump_down(loop, host, conn, rs, activity, &end));
  co_await rs.join();
  if (end == RelayEnd::closed && token.cancelled()) end = RelayEnd::cancelled;
  if (end == RelayEnd::host_failed) conn.abort();
  if (end == RelayEnd::tunnel_failed) host.reset_on_close();
  co_return end;
}

}  // namespace ptun::proxy
