// A TCP connection inside the lwIP stack with a coroutine API. lwIP's callbacks only queue
// data and wake the waiting coroutine (through a core::Timer used as a level-triggered wake-up);
// the pcb pointer is nulled in the error callback because lwIP has already freed it then.
// Back-pressure: received bytes are acknowledged to lwIP (tcp_recved, which reopens the
// window) only when the caller says they went on, with ack().
// Memory: with a ByteBudget set, received data and lwIP's send buffer are charged to it; data
// over budget is refused (lwIP keeps one segment and drops the rest until the budget has room,
// the peer retransmits) and writes wait. Tiny segments are copied into compact chunks so a
// 1-byte segment does not pin a whole pbuf (~100 bytes with its headers).
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "core/core.hpp"
#include "netstack/byte_budget.hpp"

struct tcp_pcb;
struct pbuf;

namespace ptun::netstack {

class Netstack;

class TcpConn {
 public:
  // Opens a connection from the stack's own address. Errors: Errc::limit (the connection cap is
  // reached), Errc::closed "refused" (RST), Errc::timeout (no answer within timeout_ms),
  // Errc::unsupported (no own address of dst's family), Errc::cancelled, Errc::io.
  static core::Task<Result<std::unique_ptr<TcpConn>>> connect(Netstack& stack, Endpoint dst,
                                                              uint64_t timeout_ms,
                                                              core::CancelToken token = {});
  // Wraps a pcb lwIP accepted (accept-any mode); the caller has counted it (acquire_tcp).
  static std::unique_ptr<TcpConn> accepted(Netstack& stack, struct tcp_pcb* pcb);
  ~TcpConn();
  TcpConn(const TcpConn&) = delete;
  TcpConn& operator=(const TcpConn&) = delete;

  // Copies up to buf.size() received bytes; 0 = the peer closed its side. The bytes stay counted
  // against the receive window until ack(). Errors: Errc::closed (reset/aborted), cancelled.
  core::Task<Result<size_t>> read(std::span<uint8_t> buf, core::CancelToken token = {});
  // Waits until read() would not wait: data, EOF or an error is pending. Errc::cancelled.
  core::Task<Result<void>> wait_readable(core::CancelToken token = {});
  bool readable_now() const { return !rx_.empty() || rx_eof_ || !pcb_; }
  // Reopens the receive window by n bytes: call after the bytes read were passed on.
  void ack(size_t n);
  // Queues all of data into lwIP's send buffer (waiting for room). Errors: closed, cancelled.
  core::Task<Result<void>> write_all(std::span<const uint8_t> data, core::CancelToken token = {});
  // Sends FIN (half-close); reading goes on.
  void shutdown_write();
  // Closes (or aborts if lwIP cannot close now). Idempotent; the destructor calls it.
  void close();
  bool alive() const { return pcb_ != nullptr; }
  Endpoint local() const;
  Endpoint remote() const;
  // Closes with a reset (idle timeout, upstream failure) instead of an orderly FIN.
  void abort();
  // Forgets the pcb without closing it (callbacks detached): the caller disposes of it.
  void release();
  // Charges this connection's memory to `b` from now on (what it holds already included).
  void set_budget(std::shared_ptr<ByteBudget> b);
  ByteBudget* budget() const { return budget_.get(); }
  // The peer has closed its receive window (zero window, lwIP probing) while data waits for it
  // (in lwIP's send buffer or in a write_all waiting for room).
  bool send_stalled() const;
  // Bytes charged now (received and not read, plus lwIP's send buffer), for tests.
  size_t charged() const { return rx_cost_ + tx_cost_; }
  // lwIP's TCP_OOSEQ_PBUFS_LIMIT hook: out-of-order pbufs pcb may queue, as many as its
  // connection's budget has room for (lwIP's maximum without a budget). pcb's arg is a TcpConn
  // or null (the listeners' arg is null, so pcbs not yet accepted have none).
  static uint16_t ooseq_pbufs(const struct tcp_pcb* pcb);

  struct Glue;

 private:
  TcpConn(Netstack& stack, struct tcp_pcb* pcb);
  void detach();

  Netstack& stack_;
  struct tcp_pcb* pcb_;
  // Received, not yet read: big segments as the pbufs lwIP handed them (not chained: a chain's
  // tot_len is 16 bits), small ones copied into `bytes` chunks (coalesced).
  struct RxPiece {
    struct pbuf* p = nullptr;
    std::vector<uint8_t> bytes;
    size_t cost = 0;   // charged to the budget for this piece
    size_t size() const;
  };
  // on_recv: stores p (or refuses it, false, leaving it to lwIP). Frees p when it was copied.
  bool store(struct pbuf* p);
  // Recomputes what lwIP's send buffer holds and settles the difference with the budget.
  void settle_tx();
  void drop_charges();

  std::deque<RxPiece> rx_;
  std::shared_ptr<ByteBudget> budget_;
  size_t rx_cost_ = 0, tx_cost_ = 0;
  size_t rx_off_ = 0;            // bytes of rx_.front() already read
  size_t unacked_ = 0;           // read but not acknowledged to lwIP yet
  bool rx_eof_ = false;
  bool connected_ = false;
  int err_ = 0;                  // lwIP err_t from the error callback (0 = none)
  core::Timer rx_wake_, tx_wake_;
  bool counted_ = false;
  bool tx_waiting_ = false;      // write_all waits for room (send buffer or budget)
};

}  // namespace ptun::netstack
