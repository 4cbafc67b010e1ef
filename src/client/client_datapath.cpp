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
  packet::Parsed p;
  if (packet::parse(ip, &p) != packet::ParseStatus::ok) {
    ++counters_.drop_malformed;
    return;
  }
  if (flows_ && !classify(p, flow::Dir::in, p.total_len)) return;   // a reply to a dropped flow
  if (tun_tx_.full()) flush();
  PacketBuf* b = pool_.copy(ip.first(p.total_len));
  if (!b) {
    ++counters_.drop_tun_write;
    return;
  }
  if (p.l4_proto == 6 && p.has_l4) packet::clamp_mss(b->span(), p, p.family == Family::v4 ? max_mss_v4_ : max_mss_v6_);
  tun_tx_.push(b);
}

void Client::send_datagram(std::span<const uint8_t> dgram) {
  if (udp_tx_.full()) flush();
  PacketBuf* b = pool_.copy(dgram);
  if (!b) {
    ++counters_.drop_udp_send;
    return;
  }
  udp_tx_.push(core::Datagram{b, server_ep_});
}

void Client::flush() {
  size_t tun_dropped = 0, udp_dropped = 0;  // flush_with counts in size_t: 32 bits on armhf, MIPS
  counters_.tun_tx_packets += tun_tx_.flush_with(
      [&](std::span<PacketBuf*> pkts) { auto w = dev_->write_batch(pkts); return w ? *w : 0; },
      &tun_dropped);
  udp_tx_.flush_with([&](std::span<core::Datagram> d) { auto s = sock_->send_batch(d); return s ? *s : 0; },
                     &udp_dropped);
  counters_.drop_tun_write += tun_dropped;
  counters_.drop_udp_send += udp_dropped;
}

}  // namespace ptun::client
