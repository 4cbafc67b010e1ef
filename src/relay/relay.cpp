#include "relay/relay.hpp"

#include <memory>

#include "netstack/tcp_conn.hpp"

namespace ptun::relay {
namespace {

constexpr size_t kChunk = 32768;
constexpr size_t kSpareChunks = 64;

// Copy buffers are leased only while bytes are moving: an idle relayed connection holds none
// (with one buffer per direction for its whole life, 1,000 idle connections cost 64 MB).
// One loop thread per process: a plain free list. A leased buffer is charged to the
// connection's byte budget (if any) whatever its room: it is already held, and refusing it could
// keep the bytes that fill the budget from ever draining.
class Lease {
 public:
  explicit Lease(netstack::ByteBudget* budget) : budget_(budget) {
    if (budget_) budget_->charge(kChunk);
    if (spare().empty()) {
      buf_.reset(new uint8_t[kChunk]);
    } else {
      buf_ = std::move(spare().back());
      spare().pop_back();
    }
  }
  ~Lease() {
    if (budget_) budget_->release(kChunk);
    if (spare().size() < kSpareChunks) spare().push_back(std::move(buf_));
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  std::span<uint8_t> span() { return {buf_.get(), kChunk}; }

 private:
  static std::vector<std::unique_ptr<uint8_t[]>>& spare() {
    thread_local std::vector<std::unique_ptr<uint8_t[]>> s;
    return s;
  }
  std::unique_ptr<uint8_t[]> buf_;
  netstack::ByteBudget* budget_;
};

// The first failure wins; a cancellation caused by the other pump's failure is not one.
void fail(RelayEnd* end, const Error& e, RelayEnd why, core::TaskScope& rs) {
  if (*end == RelayEnd::closed) *end = e.code == Errc::cancelled ? RelayEnd::cancelled : why;
  rs.cancel();
}

core::Task<void> pump_up(core::Loop& loop, HostTcp& host, netstack::TcpConn& conn, std::vector<uint8_t> pending,
                         core::TaskScope& rs, RelayActivity* act, RelayEnd* end) {
  if (!pending.empty()) {
    if (auto w = co_await conn.write_all(pending, rs.token()); !w) co_return fail(end, w.error(), RelayEnd::tunnel_failed, rs);
    std::vector<uint8_t>().swap(pending);
  }
  for (;;) {
    if (auto r = co_await host.wait_readable(rs.token()); !r) co_return fail(end, r.error(), RelayEnd::host_failed, rs);
    Lease buf(conn.budget());
    for (;;) {
      auto n = host.try_read(buf.span());
      if (!n) {
        if (n.error().code == Errc::would_block) break;   // drained: give the buffer back
        co_return fail(end, n.error(), RelayEnd::host_failed, rs);
      }
      if (*n == 0) co_return conn.shutdown_write();
      if (act) {
        act->last_ms = loop.now_ms();
        act->to_tunnel += *n;
      }
      if (auto w = co_await conn.write_all(buf.span().first(*n), rs.token()); !w)
        co_return fail(end, w.error(), RelayEnd::tunnel_failed, rs);
    }
  }
}

core::Task<void> pump_down(core::Loop& loop, HostTcp& host, netstack::TcpConn& conn, core::TaskScope& rs,
                           RelayActivity* act, RelayEnd* end) {
  for (;;) {
    if (auto r = co_await conn.wait_readable(rs.token()); !r) co_return fail(end, r.error(), RelayEnd::tunnel_failed, rs);
    Lease buf(conn.budget());
    while (conn.readable_now()) {
      auto n = co_await conn.read(buf.span(), rs.token());   // returns at once: readable
      if (!n) co_return fail(end, n.error(), RelayEnd::tunnel_failed, rs);
      if (*n == 0) co_return host.shutdown_write();
      if (act) {
        act->last_ms = loop.now_ms();
        act->from_tunnel += *n;
      }
      if (auto w = co_await host.write_all(buf.span().first(*n), rs.token()); !w)
        co_return fail(end, w.error(), RelayEnd::host_failed, rs);
      conn.ack(*n);   // only now may lwIP reopen the window: back-pressure from the host side
    }
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

}  // namespace ptun::relay
