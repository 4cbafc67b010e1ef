// Dispatch of client packets to flows, the queue of packets back to clients, flow bookkeeping
// and the idle sweeper. Per-protocol work: forward_tcp.cpp, forward_udp.cpp.
#include "forward/forwarder.hpp"

#include <cstring>

#include "common/log.hpp"
#include "forward/flow.hpp"
#include "netstack/netstack.hpp"
#include "packet/parse.hpp"

namespace ptun::forward {

Forwarder::Forwarder(core::Loop& loop, ForwarderOptions opts)
    : loop_(loop), opts_(std::move(opts)), budgets_(opts_.client_buffer_bytes), policy_(opts_.own, opts_.deny),
      per_client_(opts_.max_flows_per_client),
      out_pool_(opts_.out_packets) {}

Result<std::unique_ptr<Forwarder>> Forwarder::create(core::Loop& loop, ForwarderOptions opts) {
  std::unique_ptr<Forwarder> f(new Forwarder(loop, std::move(opts)));
  netstack::NetstackOptions so;
  so.mtu = f->opts_.mtu;
  so.max_tcp = f->opts_.max_tcp;
  so.outbound_packets = f->opts_.out_packets;
  auto st = netstack::Netstack::create(loop, so);
  if (!st) return st.error();
  f->stack_ = std::move(*st);
  f->stack_->configure(std::nullopt, std::nullopt, f->opts_.mtu);
  Forwarder* self = f.get();
  f->stack_->enable_accept_any([self](std::unique_ptr<netstack::TcpConn>& c) { return self->on_accept(c); });
  return f;
}

Forwarder::~Forwarder() {
  flows_.clear();   // run() has ended every flow; this only frees what never ran
  for (auto* b : out_) out_pool_.put(b);
}

void Forwarder::set_on_output(std::function<void()> cb) {
  on_output_ = cb;
  stack_->set_on_output(std::move(cb));
}

void Forwarder::wake() {
  if (on_output_) on_output_();
}

Result<size_t> Forwarder::read_batch(std::span<PacketBuf*> bufs) {
  auto n = stack_->read_batch(bufs);   // lwIP's segments first (they are the bulk)
  size_t k = n ? *n : 0;
  while (k < bufs.size() && !out_.empty()) {
    PacketBuf* src = out_.front();
    out_.pop_front();
    PacketBuf* dst = bufs[k];
    dst->reset();
    if (src->len <= dst->tailroom()) {
      std::memcpy(dst->data(), src->data(), src->len);
      dst->len = src->len;
      ++k;
    } else {
      ++dev_stats_.rx_dropped;
    }
    out_pool_.put(src);
  }
  dev_stats_.rx_packets += k;
  return k;
}

Result<size_t> Forwarder::write_batch(std::span<PacketBuf* const> pkts) {
  for (auto* b : pkts) handle(b->span());
  stack_->poke_timers();
  return pkts.size();
}

Result<void> Forwarder::write(std::span<const uint8_t> pkt) {
  handle(pkt);
  stack_->poke_timers();
  return {};
}

void Forwarder::handle(std::span<const uint8_t> pkt) {
  ++dev_stats_.tx_packets;
  packet::Parsed p;
  if (packet::parse(pkt, &p) != packet::ParseStatus::ok) {
    ++stats_.dropped_malformed;
    ++dev_stats_.tx_rejected;
    return;
  }
  if (!scope_) return;   // not running: nothing can be relayed
  if (p.is_fragment) {   // not reassembled here: MSS clamping keeps TCP unfragmented
    ++stats_.dropped_fragment;
    return;
  }
  switch (p.l4_proto) {
    case packet::kProtoTcp: return handle_tcp(pkt.first(p.total_len), p);
    case packet::kProtoUdp: return handle_udp(pkt.first(p.total_len), p);
    case packet::kProtoIcmp:
    case packet::kProtoIcmp6: return handle_icmp(pkt.first(p.total_len), p);
    default: ++stats_.dropped_protocol;
  }
}

bool Forwarder::admit(const packet::Parsed& p, size_t in_use, size_t total_cap) {
  Destination d = policy_.classify(p.dst);
  if (d != Destination::ok) {
    ++stats_.refused_destination;
    if (d == Destination::host) ++stats_.refused_host;
    if (d == Destination::denied) ++stats_.refused_deny;
    return false;
  }
  if (in_use >= total_cap) {
    ++stats_.refused_total_limit;
    return false;
  }
  if (!per_client_.acquire(p.src)) {
    ++stats_.refused_client_limit;
    return false;
  }
  return true;
}

Forwarder::Flow& Forwarder::add_flow(const packet::FlowKey& key, uint64_t idle_ms) {
  auto f = std::make_unique<Flow>(key, scope_->token(), idle_ms);
  f->act.last_ms = loop_.now_ms();
  Flow& ref = *f;
  flows_[key] = std::move(f);
  switch (key.proto) {
    case packet::kProtoTcp: ++tcp_count_; break;
    case packet::kProtoUdp: ++udp_count_; break;
    default: ++icmp_count_; break;
  }
  return ref;
}

void Forwarder::remove_flow(Flow& f) {
  switch (f.key.proto) {
    case packet::kProtoTcp: --tcp_count_; break;
    case packet::kProtoUdp: --udp_count_; break;
    default: --icmp_count_; break;
  }
  per_client_.release(f.key.src);
  packet::FlowKey key = f.key;
  flows_.erase(key);   // destroys f
}

core::Task<void> Forwarder::run_sweeper(core::CancelToken stop) {
  while (!stop.cancelled()) {
    auto r = co_await core::sleep_for(loop_, 1000, stop);
    if (!r) break;
    uint64_t now = loop_.now_ms();
    for (auto& [key, f] : flows_) {
      bool expired = f->state == Flow::State::relaying ? now - f->act.last_ms >= f->idle_ms
                                                       : now >= f->deadline_ms;
      if (f->conn && f->state == Flow::State::relaying) {
        // Sampled once a second: a window that opened in between restarts the count.
        if (!f->conn->send_stalled()) f->stalled_since_ms = 0;
        else if (!f->stalled_since_ms) f->stalled_since_ms = now;
        else if (now - f->stalled_since_ms >= opts_.tcp_zero_window_ms && !f->timed_out) {
          ++stats_.tcp_zero_window_closed;
          f->stalled_out = expired = true;
        }
      }
      if (expired && !f->timed_out) {
        f->timed_out = true;
        f->cancel.cancel();
      }
    }
    budgets_.prune();
  }
}

core::Task<void> Forwarder::run(core::CancelToken stop) {
  core::TaskScope scope(loop_, stop);
  scope_ = &scope;
  scope.spawn(stack_->run_timers(scope.token()));
  scope.spawn(run_sweeper(scope.token()));
  for (;;) {   // (the result in a local: g++ 12 mishandles co_await inside a condition)
    auto r = co_await core::sleep_for(loop_, 60000, stop);
    if (!r) break;
  }
  scope.cancel();
  co_await scope.join();
  scope_ = nullptr;
}

}  // namespace ptun::forward
