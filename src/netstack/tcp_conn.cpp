#include "netstack/tcp_conn.hpp"

#include <algorithm>
#include <cstring>

#include "netstack/netstack.hpp"

extern "C" {
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
}

namespace ptun::netstack {
namespace {
// Segments whose payload per pbuf is at most this are copied out (coalesced) instead of kept:
// a pbuf costs its struct, the packet's IP and TCP headers and the allocator's header.
constexpr size_t kSmallPayload = 512;
constexpr size_t kChunkBytes = 4096;     // coalescing chunk (grown for a big chain of tiny pbufs)
constexpr size_t kPbufOverhead = 128;    // a kept pbuf beyond its payload
constexpr size_t kSegOverhead = 160;     // one queued send segment: tcp_seg, pbuf, header room
constexpr uint64_t kBudgetRetryMs = 100; // a write over budget retries this often
}  // namespace

size_t TcpConn::RxPiece::size() const { return p ? p->tot_len : bytes.size(); }

struct TcpConn::Glue {
  static err_t on_recv(void* arg, struct tcp_pcb*, struct pbuf* p, err_t err) {
    auto* c = static_cast<TcpConn*>(arg);
    if (!p || err != ERR_OK) {
      if (p) pbuf_free(p);
      c->rx_eof_ = true;
    } else if (!c->store(p)) {
      return ERR_MEM;   // over budget: lwIP keeps p (refused data) and offers it again later
    }
    c->rx_wake_.poke();
    return ERR_OK;
  }
  static err_t on_sent(void* arg, struct tcp_pcb*, u16_t) {
    auto* c = static_cast<TcpConn*>(arg);
    c->settle_tx();
    c->tx_wake_.poke();
    return ERR_OK;
  }
  static err_t on_connected(void* arg, struct tcp_pcb*, err_t) {
    auto* c = static_cast<TcpConn*>(arg);
    c->connected_ = true;
    c->tx_wake_.poke();
    return ERR_OK;
  }
  // lwIP has freed the pcb when this runs: forget it.
  static void on_err(void* arg, err_t err) {
    auto* c = static_cast<TcpConn*>(arg);
    c->pcb_ = nullptr;
    c->settle_tx();
    c->err_ = err == ERR_OK ? int(ERR_ABRT) : int(err);
    c->rx_wake_.poke();
    c->tx_wake_.poke();
  }
};

TcpConn::TcpConn(Netstack& stack, struct tcp_pcb* pcb)
    : stack_(stack), pcb_(pcb), rx_wake_(stack.loop()), tx_wake_(stack.loop()) {
  tcp_arg(pcb, this);
  tcp_recv(pcb, Glue::on_recv);
  tcp_sent(pcb, Glue::on_sent);
  tcp_err(pcb, Glue::on_err);
}

TcpConn::~TcpConn() {
  close();
  for (auto& piece : rx_)
    if (piece.p) pbuf_free(piece.p);
  if (budget_) budget_->release(rx_cost_);
  if (counted_) stack_.release_tcp();
}

bool TcpConn::store(struct pbuf* p) {
  size_t n = p->tot_len;
  if (n > kSmallPayload && n / pbuf_clen(p) > kSmallPayload) {
    size_t cost = n + kPbufOverhead;
    if (budget_ && !budget_->try_charge(cost)) return false;
    rx_.push_back(RxPiece{p, {}, cost});
    rx_cost_ += cost;
    return true;
  }
  // Coalesce: fill the last chunk, then (if needed) one new chunk, charged before any copy.
  size_t spare = !rx_.empty() && !rx_.back().p ? rx_.back().bytes.capacity() - rx_.back().bytes.size() : 0;
  size_t first = std::min(spare, n);
  size_t rest = n - first;
  size_t fresh = rest ? std::max(kChunkBytes, rest) : 0;
  if (fresh && budget_ && !budget_->try_charge(fresh)) return false;
  if (first) {
    auto& v = rx_.back().bytes;
    size_t at = v.size();
    v.resize(at + first);
    pbuf_copy_partial(p, v.data() + at, uint16_t(first), 0);
  }
  if (rest) {
    RxPiece piece;
    piece.bytes.reserve(fresh);
    piece.bytes.resize(rest);
    piece.cost = fresh;
    pbuf_copy_partial(p, piece.bytes.data(), uint16_t(rest), uint16_t(first));
    rx_.push_back(std::move(piece));
    rx_cost_ += fresh;
  }
  pbuf_free(p);
  return true;
}

void TcpConn::settle_tx() {
  size_t now = 0;
  // (snd_buf itself: tcp_sndbuf() clamps to 16 bits with window scaling)
  if (pcb_) now = size_t(TCP_SND_BUF - pcb_->snd_buf) + size_t(tcp_sndqueuelen(pcb_)) * kSegOverhead;
  if (budget_) {
    if (now > tx_cost_) budget_->charge(now - tx_cost_);
    else budget_->release(tx_cost_ - now);
  }
  tx_cost_ = now;
}

void TcpConn::set_budget(std::shared_ptr<ByteBudget> b) {
  if (budget_) budget_->release(rx_cost_ + tx_cost_);
  budget_ = std::move(b);
  if (budget_) budget_->charge(rx_cost_ + tx_cost_);
}

uint16_t TcpConn::ooseq_pbufs(const struct tcp_pcb* pcb) {
  const auto* c = static_cast<const TcpConn*>(pcb->callback_arg);
  if (!c || !c->budget_) return TCP_OOSEQ_MAX_PBUFS;
  // Not charged (lwIP owns the queue, and drops it when short of memory): shrunk instead, to
  // nothing once the client's budget is spent.
  return uint16_t(std::min<size_t>(TCP_OOSEQ_MAX_PBUFS, c->budget_->room() / (TCP_MSS + kPbufOverhead)));
}

bool TcpConn::send_stalled() const {
  // Data waits in lwIP, or (the budget being spent) in the writer: both stay until the peer reads.
  return pcb_ && (pcb_->unsent || tx_waiting_) && (pcb_->snd_wnd == 0 || pcb_->persist_backoff > 0);
}

void TcpConn::detach() {
  if (!pcb_) return;
  tcp_arg(pcb_, nullptr);
  tcp_recv(pcb_, nullptr);
  tcp_sent(pcb_, nullptr);
  tcp_err(pcb_, nullptr);
}

void TcpConn::close() {
  if (!pcb_) return;
  detach();
  if (tcp_close(pcb_) != ERR_OK) tcp_abort(pcb_);
  pcb_ = nullptr;
  settle_tx();   // what lwIP still sends after the close is its own (bounded by its timers)
  stack_.poke_timers();
}

std::unique_ptr<TcpConn> TcpConn::accepted(Netstack& stack, struct tcp_pcb* pcb) {
  std::unique_ptr<TcpConn> c(new TcpConn(stack, pcb));
  c->counted_ = true;
  c->connected_ = true;
  tcp_nagle_disable(pcb);
  return c;
}

void TcpConn::abort() {
  if (!pcb_) return;
  detach();
  tcp_abort(pcb_);
  pcb_ = nullptr;
  settle_tx();
  stack_.poke_timers();
}

void TcpConn::release() {
  detach();
  pcb_ = nullptr;
  settle_tx();
}

Endpoint TcpConn::remote() const {
  if (!pcb_) return {};
  return Endpoint{from_lwip(&pcb_->remote_ip), pcb_->remote_port};
}

Endpoint TcpConn::local() const {
  if (!pcb_) return {};
  return Endpoint{from_lwip(&pcb_->local_ip), pcb_->local_port};
}

core::Task<Result<std::unique_ptr<TcpConn>>> TcpConn::connect(Netstack& stack, Endpoint dst,
                                                              uint64_t timeout_ms,
                                                              core::CancelToken token) {
  if (!stack.address(dst.addr.family))
    co_return Error(Errc::unsupported, "the tunnel has no " + std::string(dst.addr.is_v4() ? "IPv4" : "IPv6") + " address");
  if (!stack.acquire_tcp()) co_return Error(Errc::limit, "too many TCP connections in the tunnel");
  struct tcp_pcb* pcb = tcp_new_ip_type(dst.addr.is_v4() ? IPADDR_TYPE_V4 : IPADDR_TYPE_V6);
  if (!pcb) {
    stack.release_tcp();
    co_return Error(Errc::io, "lwIP: no memory for a TCP pcb");
  }
  std::unique_ptr<TcpConn> c(new TcpConn(stack, pcb));
  c->counted_ = true;
  tcp_nagle_disable(pcb);   // a relay: the application already chose its write sizes
  ip_addr_t ip;
  to_lwip(dst.addr, &ip);
  if (err_t e = tcp_connect(pcb, &ip, dst.port, Glue::on_connected); e != ERR_OK) {
    co_return Error(Errc::io, std::string("lwIP tcp_connect: ") + lwip_strerr(e));
  }
  stack.poke_timers();
  uint64_t deadline = stack.loop().now_ms() + timeout_ms;
  while (!c->connected_) {
    if (!c->pcb_) co_return Error(Errc::closed, c->err_ == ERR_RST ? "connection refused" : "connection failed");
    if (stack.loop().now_ms() >= deadline) co_return Error(Errc::timeout, "no answer from " + dst.str());
    auto r = co_await c->tx_wake_.wait_until(deadline, token);
    if (!r) co_return r.error();
  }
  co_return c;
}

core::Task<Result<size_t>> TcpConn::read(std::span<uint8_t> buf, core::CancelToken token) {
  for (;;) {
    if (!rx_.empty()) {
      size_t n = 0;
      while (n < buf.size() && !rx_.empty()) {
        RxPiece& piece = rx_.front();
        size_t size = piece.size();
        size_t want = std::min<size_t>(buf.size() - n, size - rx_off_);
        size_t got = want;
        if (piece.p) got = pbuf_copy_partial(piece.p, buf.data() + n, uint16_t(want), uint16_t(rx_off_));
        else std::memcpy(buf.data() + n, piece.bytes.data() + rx_off_, want);
        n += got;
        rx_off_ += got;
        if (rx_off_ >= size) {
          if (piece.p) pbuf_free(piece.p);
          rx_cost_ -= piece.cost;
          if (budget_) budget_->release(piece.cost);
          rx_.pop_front();
          rx_off_ = 0;
        }
        if (got == 0) break;
      }
      unacked_ += n;
      co_return n;
    }
    if (rx_eof_) co_return size_t(0);
    if (!pcb_) co_return Error(Errc::closed, err_ == ERR_RST ? "connection reset" : "connection aborted");
    auto r = co_await rx_wake_.wait_until(UINT64_MAX / 2, token);
    if (!r) co_return r.error();
  }
}

core::Task<Result<void>> TcpConn::wait_readable(core::CancelToken token) {
  while (!readable_now()) {
    auto r = co_await rx_wake_.wait_until(UINT64_MAX / 2, token);
    if (!r) co_return r.error();
  }
  co_return Result<void>{};
}

void TcpConn::ack(size_t n) {
  n = std::min(n, unacked_);
  unacked_ -= n;
  while (pcb_ && n) {
    uint16_t k = uint16_t(std::min<size_t>(n, 0xffff));
    tcp_recved(pcb_, k);
    n -= k;
  }
}

core::Task<Result<void>> TcpConn::write_all(std::span<const uint8_t> data, core::CancelToken token) {
  while (!data.empty()) {
    if (!pcb_) co_return Error(Errc::closed, "connection closed");
    size_t room = std::min<size_t>({tcp_sndbuf(pcb_), data.size(), 0xffff});
    uint64_t until = UINT64_MAX / 2;
    if (room > 0 && tcp_sndqueuelen(pcb_) < TCP_SND_QUEUELEN - 8) {
      // Over budget: try one segment's worth, else wait (the budget frees as any of this
      // client's connections drain, so poll rather than wait for this one's ACKs).
      size_t est = 0;
      if (budget_) {
        auto cost = [](size_t k) { return k + (k / TCP_MSS + 1) * kSegOverhead; };
        if (!budget_->try_charge(est = cost(room))) {
          room = std::min<size_t>(room, TCP_MSS);
          if (!budget_->try_charge(est = cost(room))) est = room = 0;
        }
      }
      if (room > 0) {
        err_t e = tcp_write(pcb_, data.data(), uint16_t(room), TCP_WRITE_FLAG_COPY);
        if (budget_) budget_->release(est);
        settle_tx();
        if (e == ERR_OK) {
          data = data.subspan(room);
          continue;
        }
        if (e != ERR_MEM) co_return Error(Errc::io, std::string("lwIP tcp_write: ") + lwip_strerr(e));
      } else {
        until = stack_.loop().now_ms() + kBudgetRetryMs;
      }
    }
    tcp_output(pcb_);
    tx_waiting_ = true;
    auto r = co_await tx_wake_.wait_until(until, token);
    tx_waiting_ = false;
    if (!r) co_return r.error();
  }
  if (pcb_) tcp_output(pcb_);
  co_return Result<void>{};
}

void TcpConn::shutdown_write() {
  if (pcb_) tcp_shutdown(pcb_, 0, 1);
}

}  // namespace ptun::netstack
