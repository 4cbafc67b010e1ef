// The client's per-packet work: TUN batches into the session, datagrams from the server into
// the TUN. No allocation per packet (pool buffers, batched sendmmsg and TUN writes).
#include "client/client.hpp"
#include "packet/icmp_too_big.hpp"
#include "packet/mss_clamp.hpp"
#include "packet/parse.hpp"

namespace ptun::client {

core::Task<void> Client::run_udp_rx(core::CancelToken stop) {
  std::array<core::Datagram, limits::kBatch> batch;
  std::array<PacketBuf*, limits::kBatch> bufs;
  for (auto& b : bufs) b = pool_.get();
  for (size_t i = 0; i < batch.size(); ++i) batch[i].buf = bufs[i];
  for (;;) {
    auto n = co_await sock_->recv_batch(batch, stop);
    if (!n) {
      if (n.error().code == Errc::cancelled || n.error().code == Errc::closed) break;
      LOG_WARN("client: receive: %s", n.error().message.c_str());
      continue;
    }
    now_ = loop_.now_ms();
    for (size_t i = 0; i < *n; ++i) {
      if (!(batch[i].peer == server_ep_)) {
        ++counters_.drop_foreign_source;
        continue;
      }
      if (session_ && !session_ended_) session_->on_datagram(batch[i].buf->span(), now_);
    }
    flush();
    poke_timer();
  }
  for (auto* b : bufs) pool_.put(b);
}

core::Task<void> Client::run_tun_rx(core::CancelToken stop) {
  std::array<PacketBuf*, limits::kBatch> bufs;
  for (auto& b : bufs) b = pool_.get();
  for (;;) {
    auto ready = co_await tun_poll_->wait(UV_READABLE, stop);
    if (!ready) {
      if (ready.error().code == Errc::cancelled || ready.error().code == Errc::closed) break;
      LOG_WARN("client: tun poll: %s", ready.error().message.c_str());
      continue;
    }
    for (;;) {
      auto n = tun_->read_batch(bufs);
      if (!n) {
        if (n.error().code == Errc::closed) {   // the interface was deleted under us
          LOG_ERROR("client: tunnel interface gone: %s", n.error().message.c_str());
          exit_code_ = 1;
          this->stop();
          for (auto* b : bufs) pool_.put(b);
          co_return;
        }
        LOG_WARN("client: tun read: %s", n.error().message.c_str());
        break;
      }
      now_ = loop_.now_ms();
      for (size_t i = 0; i < *n; ++i) handle_tun_packet(bufs[i], now_);
      flush();
      if (*n < bufs.size()) break;
    }
    poke_timer();
  }
  for (auto* b : bufs) pool_.put(b);
}

void Client::handle_tun_packet(PacketBuf* pkt, uint64_t now) {
  ++counters_.tun_rx_packets;
  if (!session_ || session_ended_ || session_->state() != proto::ClientSession::State::established) {
    ++counters_.drop_not_connected;
    return;
  }
  packet::Parsed p;
  if (packet::parse(pkt->span(), &p) != packet::ParseStatus::ok) {
    ++counters_.drop_malformed;
    return;
  }
  if (flows_ && !classify(p, flow::Dir::out, p.total_len)) return;   // per-app VPN verdict
  if (p.total_len > tun_mtu_) {
    ++counters_.drop_too_big;
    uint8_t reply[1280];
    const auto& own = p.family == Family::v4 ? applied_->ipv4 : applied_->ipv6;
    if (own) {
      size_t n = packet::make_too_big(pkt->span(), p, uint16_t(tun_mtu_), own->addr, reply, sizeof reply);
      if (n) (void)dev_->write({reply, n});
    }
    return;
  }
  if (p.l4_proto == 6 && p.has_l4) packet::clamp_mss(pkt->span(), p, p.family == Family::v4 ? max_mss_v4_ : max_mss_v6_);
  session_->send_packet(pkt->span().first(p.total_len), now);
}

void Client::deliver_packet(std::span<const uint8_t> ip) {
  if (tun_tx_.size() == limits::kBatch) flush();
  PacketBuf* b = pool_.get();
  if (!b || ip.size() > b->tailroom()) {
    if (b) pool_.put(b);
    ++counters_.drop_tun_write;
    return;
  }
  std::memcpy(b->data(), ip.data(), ip.size());
  b->len = uint32_t(ip.size());
  packet::Parsed p;
  if (packet::parse(b->span(), &p) != packet::ParseStatus::ok) {
    ++counters_.drop_malformed;
    pool_.put(b);
    return;
  }
  if (flows_ && !classify(p, flow::Dir::in, p.total_len)) {   // a reply to a dropped flow
    pool_.put(b);
    return;
  }
  if (p.l4_proto == 6 && p.has_l4) packet::clamp_mss(b->span(), p, p.family == Family::v4 ? max_mss_v4_ : max_mss_v6_);
  tun_tx_.push_back(b);
}

void Client::send_datagram(std::span<const uint8_t> dgram) {
  if (udp_tx_.size() == limits::kBatch) flush();
  PacketBuf* b = pool_.get();
  if (!b || dgram.size() > b->tailroom()) {
    if (b) pool_.put(b);
    ++counters_.drop_udp_send;
    return;
  }
  std::memcpy(b->data(), dgram.data(), dgram.size());
  b->len = uint32_t(dgram.size());
  udp_tx_.push_back(core::Datagram{b, server_ep_});
}

void Client::flush() {
  if (!tun_tx_.empty()) {
    auto w = dev_->write_batch(tun_tx_);
    size_t n = w ? *w : 0;
    counters_.tun_tx_packets += n;
    counters_.drop_tun_write += tun_tx_.size() - n;
    for (auto* b : tun_tx_) pool_.put(b);
    tun_tx_.clear();
  }
  if (!udp_tx_.empty()) {
    auto s = sock_->send_batch(udp_tx_);
    size_t n = s ? *s : 0;
    counters_.drop_udp_send += udp_tx_.size() - n;
    for (auto& d : udp_tx_) pool_.put(d.buf);
    udp_tx_.clear();
  }
}

}  // namespace ptun::client
