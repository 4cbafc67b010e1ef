#include "proxy/relay.hpp"

#include "netstack/tcp_conn.hpp"

namespace ptun::proxy {
namespace {

constexpr size_t kChunk = 32768;

core::Task<void> pump_up(core::Loop& loop, HostTcp& host, netstack::TcpConn& conn, std::vector<uint8_t> pending,
                         core::TaskScope& rs, RelayActivity* act) {
  if (!pending.empty() && !co_await conn.write_all(pending, rs.token())) {
    rs.cancel();
    co_return;
  }
  std::vector<uint8_t> buf(kChunk);
  for (;;) {
    auto n = co_await host.read_some(buf, rs.token());
    if (!n) {
      rs.cancel();
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
    if (!co_await conn.write_all(std::span(buf).first(*n), rs.token())) {
      rs.cancel();
      break;
    }
  }
}

core::Task<void> pump_down(core::Loop& loop, HostTcp& host, netstack::TcpConn& conn, core::TaskScope& rs,
                           RelayActivity* act) {
  std::vector<uint8_t> buf(kChunk);
  for (;;) {
    auto n = co_await conn.read(buf, rs.token());
    if (!n) {
      rs.cancel();
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
    if (!co_await host.write_all(std::span(buf).first(*n), rs.token())) {
      rs.cancel();
      break;
    }
    conn.ack(*n);   // only now may lwIP reopen the window: back-pressure from the host side
  }
}

}  // namespace

core::Task<void> relay_streams(core::Loop& loop, HostTcp& host, netstack::TcpConn& conn, std::vector<uint8_t> pending,
                               core::CancelToken token, RelayActivity* activity) {
  if (activity) activity->last_ms = loop.now_ms();
  core::TaskScope rs(loop, token);
  rs.spawn(pump_up(loop, host, conn, std::move(pending), rs, activity));
  rs.spawn(pump_down(loop, host, conn, rs, activity));
  co_await rs.join();
}

}  // namespace ptun::proxy
