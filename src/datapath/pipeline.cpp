#include "datapath/pipeline.hpp"

#include <cstring>
#include <type_traits>

#include "common/log.hpp"
#include "packet/icmp_too_big.hpp"
#include "packet/mss_clamp.hpp"

namespace ptun::datapath {

std::vector<std::pair<const char*, uint64_t>> drop_causes(const Counters& c) {
  return {{"malformed", c.drop_malformed}, {"too_big", c.drop_too_big}, {"tun_write", c.drop_dev_write},
          {"udp_send", c.drop_udp_send}, {"pool_empty", c.drop_pool_empty}};
}

nlohmann::json to_json(const Counters& c) {
  return {{"tun_rx_packets", c.dev_rx_packets},     {"tun_tx_packets", c.dev_tx_packets},
          {"udp_rx_datagrams", c.net_rx_datagrams}, {"udp_tx_datagrams", c.net_tx_datagrams},
          {"drop_malformed", c.drop_malformed},     {"drop_too_big", c.drop_too_big},
          {"drop_tun_write", c.drop_dev_write},     {"drop_udp_send", c.drop_udp_send},
          {"drop_pool_empty", c.drop_pool_empty},   {"tun_tx_in_place", c.adopted_to_dev},
          {"tun_tx_copied", c.copied_to_dev},       {"udp_tx_in_place", c.adopted_to_net},
          {"udp_tx_copied", c.copied_to_net},       {"tx_thread_batches", c.tx_thread_batches},
          {"tx_thread_seals", c.tx_thread_seals}};
}

struct Pipeline::Socket {
  explicit Socket(BufferPool& pool) : tx(pool) {}
  core::UdpSocket* sock = nullptr;
  TxQueue<core::Datagram> tx;
  std::array<tls::PendingSeal, limits::kBatch> seals{};   // seals[i]: tx's item i, if unsealed
};

// Readiness of any PacketDevice: an fd device through FdPoll; a device without one (lwIP, the
// forwarder, the test fake) through its on_output callback, which may fire inside a library
// callback and therefore only pokes a timer.
class Pipeline::DeviceWait {
 public:
  DeviceWait(core::Loop& loop, tun::PacketDevice& dev) : loop_(loop), wake_(loop) {
    if (dev.fd() >= 0) {
      poll_.emplace(loop, dev.fd());
    } else if ((cb_ = dynamic_cast<tun::CallbackDevice*>(&dev))) {
      cb_->set_on_output([this] { wake_.poke(); });
      wake_.poke();   // packets may already be waiting
    }
  }
  ~DeviceWait() {
    if (cb_) cb_->set_on_output(nullptr);
  }
  // ok when the device may have packets; cancelled / closed / io otherwise.
  core::Task<Result<void>> readable(core::CancelToken stop) {
    if (poll_) {
      auto r = co_await poll_->until(UV_READABLE, stop);
      if (!r) co_return r.error();
      co_return Result<void>{};
    }
    if (!cb_) co_return Error(Errc::unsupported, "device has neither an fd nor an output callback");
    // The minute-long deadline only bounds a lost wake-up; pokes are never lost (core::Timer).
    auto r = co_await wake_.wait_until(loop_.now_ms() + 60000, stop);
    if (!r) co_return r.error();
    co_return Result<void>{};
  }

 private:
  core::Loop& loop_;
  core::Timer wake_;
  std::optional<core::FdPoll> poll_;
  tun::CallbackDevice* cb_ = nullptr;
};

Pipeline::Pipeline(core::Loop& loop, Policy& policy, size_t pool_size)
    : loop_(loop), policy_(policy), pool_(pool_size) {}

Pipeline::~Pipeline() { set_tx_thread(false); }

void Pipeline::set_device(tun::PacketDevice* dev) {
  if (dev != dev_) quiesce();
  dev_ = dev;
}

void Pipeline::set_socket(size_t index, core::UdpSocket* sock) {
  if (index < socks_.size() && socks_[index]->sock != sock) quiesce();
  while (socks_.size() <= index) socks_.push_back(std::make_unique<Socket>(pool_));
  socks_[index]->sock = sock;
}

void Pipeline::set_mtu(uint32_t mtu, std::optional<IpAddr> own_v4, std::optional<IpAddr> own_v6) {
  mtu_ = mtu;
  mss_v4_ = uint16_t(mtu - 40);   // IPv4 + TCP headers without options
  mss_v6_ = uint16_t(mtu - 60);
  own_v4_ = own_v4;
  own_v6_ = own_v6;
}

void Pipeline::set_tx_thread(bool on) {
  if (on && !tx_) {
    tx_ = std::make_unique<TxThread>();
  } else if (!on && tx_) {
    quiesce();
    tx_.reset();
  }
}

void Pipeline::quiesce() {
  if (!tx_) return;
  tx_->wait_idle();
  reclaim();
}

void Pipeline::reclaim() {
  if (!tx_) return;
  tx_->reclaim([this](TxThread::Job& j) {
    ++c_.tx_thread_batches;
    if (j.dev) {
      c_.dev_tx_packets += j.taken;
      c_.drop_dev_write += j.n - j.taken;
      for (size_t i = 0; i < j.n; ++i) pool_.put(j.bufs[i]);
    } else {
      c_.net_tx_datagrams += j.taken;
      c_.drop_udp_send += j.n - j.taken;
      c_.tx_thread_seals += j.sealed;
      for (size_t i = 0; i < j.n; ++i) {
        pool_.put(j.items[i].buf);
        j.seals[i] = {};   // the keys' hold is dropped here, on the loop
      }
    }
  });
}

// A batch goes to the tx thread when it is big enough to be worth a wake-up, and always while
// the thread has work: the loop writes only when the thread is idle, so nothing is reordered.
bool Pipeline::hand_over(size_t n) const { return tx_ && (n >= kTxThreadMinBatch || !tx_->idle()); }

template <typename Item>
void Pipeline::submit_to_tx(TxQueue<Item>& q, tun::PacketDevice* dev, core::UdpSocket* sock,
                            std::array<tls::PendingSeal, limits::kBatch>* seals) {
  reclaim();
  TxThread::Job* j = tx_->next_free();
  while (!j) {   // every job in flight: the thread is the bottleneck, wait for it
    tx_->wait_one();
    reclaim();
    j = tx_->next_free();
  }
  j->dev = dev;
  j->sock = sock;
  if constexpr (std::is_same_v<Item, PacketBuf*>)
    j->n = q.take_into(j->bufs.data());
  else
    j->n = q.take_into(j->items.data());
  if (seals) std::move(seals->begin(), seals->begin() + j->n, j->seals.begin());
  tx_->submit();
}

bool Pipeline::wait_for_tx_buffers() {
  if (!tx_ || tx_->idle()) return false;
  tx_->wait_one();
  reclaim();
  return true;
}

core::Task<void> Pipeline::run_device(core::CancelToken stop) {
  if (!dev_) co_return;
  DeviceWait wait(loop_, *dev_);
  std::array<PacketBuf*, limits::kBatch> bufs{};
  for (auto& b : bufs) b = pool_.get();
  for (;;) {
    auto ready = co_await wait.readable(stop);
    if (!ready) {
      if (ready.error().code == Errc::cancelled || ready.error().code == Errc::closed) break;
      LOG_WARN("datapath: %s: wait: %s", dev_->name().c_str(), ready.error().message.c_str());
      continue;
    }
    bool gone = false;
    for (;;) {   // drain everything pending, a batch at a time
      // A slot is empty when the pool could not refill it after an adoption.
      reclaim();
      size_t have = 0;
      for (auto& b : bufs) {
        if (!b) b = pool_.get();
        if (!b) break;
        ++have;
      }
      if (have == 0 && wait_for_tx_buffers()) continue;
      if (have == 0) {
        ++c_.drop_pool_empty;
        break;
      }
      auto n = dev_->read_batch(std::span<PacketBuf*>(bufs.data(), have));
      if (!n) {
        if (n.error().code == Errc::closed) {
          gone = true;
          policy_.on_device_gone(n.error());
        } else {
          LOG_WARN("datapath: %s: read: %s", dev_->name().c_str(), n.error().message.c_str());
        }
        break;
      }
      uint64_t now = loop_.now_ms();
      handle_device_batch(std::span<PacketBuf*>(bufs.data(), have), *n, now);
      flush();
      policy_.after_batch(now);
      if (*n < have) break;
    }
    if (gone) break;
  }
  for (auto* b : bufs)
    if (b) pool_.put(b);
}

void Pipeline::handle_device_batch(std::span<PacketBuf*> bufs, size_t n, uint64_t now) {
  for (size_t i = 0; i < n; ++i) {
    ++c_.dev_rx_packets;
    packet::Parsed p;
    if (packet::parse(bufs[i]->span(), &p) != packet::ParseStatus::ok) {
      ++c_.drop_malformed;
      continue;
    }
    current_ = &bufs[i];
    policy_.on_device_packet(bufs[i]->span().first(p.total_len), p, now);
    current_ = nullptr;
  }
}

core::Task<void> Pipeline::run_socket(size_t index, core::CancelToken stop) {
  core::UdpSocket* sock = index < socks_.size() ? socks_[index]->sock : nullptr;
  if (!sock) co_return;
  std::array<core::Datagram, limits::kBatch> batch{};
  for (auto& d : batch) d.buf = pool_.get();
  std::unique_ptr<core::Timer> idle;   // back-off when the pool is empty
  for (;;) {
    reclaim();
    size_t have = 0;
    for (auto& d : batch) {   // refill slots whose buffers were adopted
      if (!d.buf) d.buf = pool_.get();
      if (!d.buf) break;
      ++have;
    }
    if (have == 0 && wait_for_tx_buffers()) continue;
    if (have == 0) {
      // Every buffer sits in a queue or another loop's slots: flush ours back; if that did not
      // help, give the other loops a millisecond instead of spinning.
      ++c_.drop_pool_empty;
      flush();
      if (pool_.available() == 0) {
        if (!idle) idle = std::make_unique<core::Timer>(loop_);
        if (auto r = co_await idle->wait_for(1, stop); !r) break;
      }
      continue;
    }
    auto n = co_await sock->recv_batch(std::span<core::Datagram>(batch.data(), have), stop);
    if (!n) {
      if (n.error().code == Errc::cancelled || n.error().code == Errc::closed) break;
      LOG_WARN("datapath: receive: %s", n.error().message.c_str());
      continue;
    }
    uint64_t now = loop_.now_ms();
    for (size_t i = 0; i < *n; ++i) {
      ++c_.net_rx_datagrams;
      current_ = &batch[i].buf;
      policy_.on_datagram(index, batch[i].peer, batch[i].buf->span(), now);
      current_ = nullptr;
    }
    flush();
    policy_.after_batch(now);
  }
  for (auto& d : batch)
    if (d.buf) pool_.put(d.buf);
}

Pipeline::Room Pipeline::room_around(std::span<const uint8_t> inner) const {
  if (!current_ || !*current_) return {};
  const PacketBuf* b = *current_;
  const uint8_t* lo = b->base;
  const uint8_t* hi = b->base + b->cap;
  if (inner.data() < lo || inner.data() + inner.size() > hi) return {};
  return {size_t(inner.data() - lo), size_t(hi - (inner.data() + inner.size()))};
}

// The buffer `bytes` already lives in (the current receive slot, which then gets a fresh buffer
// on the next batch), or a pool copy of them.
PacketBuf* Pipeline::take_or_copy(std::span<const uint8_t> bytes, uint64_t* adopted, uint64_t* copied) {
  if (current_ && *current_) {
    PacketBuf* b = *current_;
    if (bytes.data() >= b->base && bytes.data() + bytes.size() <= b->base + b->cap) {
      b->off = uint32_t(bytes.data() - b->base);
      b->len = uint32_t(bytes.size());
      *current_ = nullptr;   // the loop refills the slot
      ++*adopted;
      return b;
    }
  }
  PacketBuf* b = pool_.copy(bytes);
  if (b) ++*copied;
  return b;
}

void Pipeline::to_device(std::span<const uint8_t> ip, const packet::Parsed* p) {
  if (!dev_) {
    ++c_.drop_dev_write;
    return;
  }
  PacketBuf* b = take_or_copy(ip, &c_.adopted_to_dev, &c_.copied_to_dev);
  if (!b) {
    ++c_.drop_pool_empty;
    return;
  }
  if (p) clamp(b->span(), *p);   // same offsets as `ip`
  dev_tx_.push(b);
  // Flushed after the push, never before the copy: `ip` may live in a queued buffer that a flush
  // would hand back to the pool (and the copy would then read a reused buffer).
  if (dev_tx_.full()) flush_device();
}

void Pipeline::send_to(size_t index, const Endpoint& peer, std::span<const uint8_t> dgram, tls::PendingSeal seal) {
  if (index >= socks_.size() || !socks_[index]->sock) {
    ++c_.drop_udp_send;
    return;
  }
  Socket& s = *socks_[index];
  PacketBuf* b = take_or_copy(dgram, &c_.adopted_to_net, &c_.copied_to_net);
  if (!b) {
    ++c_.drop_pool_empty;
    return;
  }
  // Without the tx thread the record is sealed now, while its bytes are still in the cache (at
  // the flush, a batch later, they may not be); with it, at the hand-over (flush_sockets).
  if (seal && !tx_) {
    seal.seal_in(b->data());
    seal = {};
  }
  seal.keep();
  s.seals[s.tx.size()] = std::move(seal);
  s.tx.push(core::Datagram{b, peer});
  if (s.tx.full()) flush_sockets();   // after the push, as in to_device
}

bool Pipeline::prepare_outbound(std::span<uint8_t> pkt, const packet::Parsed& p) {
  if (p.total_len > mtu_) {
    ++c_.drop_too_big;
    const auto& own = p.family == Family::v4 ? own_v4_ : own_v6_;
    uint8_t reply[1280];
    if (own) {
      size_t n = packet::make_too_big(pkt, p, uint16_t(mtu_), *own, reply, sizeof reply);
      if (n) {
        // Not the current buffer: the reply is copied, and the original stays where it is.
        PacketBuf** cur = current_;
        current_ = nullptr;
        to_device({reply, n}, nullptr);
        current_ = cur;
      }
    }
    return false;
  }
  clamp(pkt, p);
  return true;
}

void Pipeline::clamp(std::span<uint8_t> pkt, const packet::Parsed& p) const {
  if (p.l4_proto == 6 && p.has_l4) packet::clamp_mss(pkt, p, p.family == Family::v4 ? mss_v4_ : mss_v6_);
}

void Pipeline::flush_device() {
  if (dev_->thread_safe_writes() && hand_over(dev_tx_.size())) return submit_to_tx(dev_tx_, dev_, nullptr, nullptr);
  size_t dropped = 0;   // size_t: flush_with counts in it (32 bits on armhf and MIPS)
  c_.dev_tx_packets += dev_tx_.flush_with(
      [&](std::span<PacketBuf*> pkts) { auto w = dev_->write_batch(pkts); return w ? *w : 0; }, &dropped);
  c_.drop_dev_write += dropped;
}

void Pipeline::flush_sockets() {
  for (auto& sp : socks_) {
    Socket* s = sp.get();
    if (s->tx.empty()) continue;
    const size_t n = s->tx.size();
    if (hand_over(n)) {
      // The thread still busy with an earlier batch is the bottleneck: the loop, which would
      // otherwise wait for it, seals this one itself (with the loop's own context).
      if (!tx_->idle()) {
        for (size_t i = 0; i < n; ++i)
          if (s->seals[i]) {
            s->seals[i].seal_now(s->tx.items()[i].buf->data());
            s->seals[i] = {};
          }
      }
      submit_to_tx(s->tx, nullptr, s->sock, &s->seals);
      continue;
    }
    seal_pending(s->tx.items(), std::span(s->seals.data(), n));
    size_t dropped = 0;
    c_.net_tx_datagrams += s->tx.flush_with(
        [&](std::span<core::Datagram> d) { auto r = s->sock->send_batch(d); return r ? *r : 0; }, &dropped);
    c_.drop_udp_send += dropped;
    for (size_t i = 0; i < n; ++i) s->seals[i] = {};
  }
}

void Pipeline::flush() {
  reclaim();
  if (!dev_tx_.empty()) flush_device();
  flush_sockets();
}

}  // namespace ptun::datapath
