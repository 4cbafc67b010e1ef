// The server's per-packet work, kept in one file so it can later be replicated per core
// (one worker = TUN queue + UDP socket + its sessions). No allocation per packet: datagrams
// and packets live in pool buffers and leave in batches (sendmmsg, TUN write batch).
#include "packet/icmp_too_big.hpp"
#include "packet/mss_clamp.hpp"
#include "packet/parse.hpp"
#include "server/server.hpp"

namespace ptun::server {

core::Task<void> Server::run_udp_rx(size_t index, core::CancelToken stop) {
  core::UdpSocket& sock = *sockets_[index];
  std::array<core::Datagram, limits::kBatch> batch;
  std::array<PacketBuf*, limits::kBatch> bufs;
  for (auto& b : bufs) b = pool_.get();
  for (size_t i = 0; i < batch.size(); ++i) batch[i].buf = bufs[i];
  for (;;) {
    auto n = co_await sock.recv_batch(batch, stop);
    if (!n) {
      if (n.error().code == Errc::cancelled || n.error().code == Errc::closed) break;
      LOG_WARN("server: receive: %s", n.error().message.c_str());
      continue;
    }
    now_ = loop_.now_ms();
    for (size_t i = 0; i < *n; ++i) {
      endpoint_->on_datagram(batch[i].peer, batch[i].buf->span(), now_);
    }
    flush();
    poke_timer();
  }
  for (auto* b : bufs) pool_.put(b);
}

core::Task<void> Server::run_tun_rx(core::CancelToken stop) {
  std::array<PacketBuf*, limits::kBatch> bufs;
  for (auto& b : bufs) b = pool_.get();
  for (;;) {
    auto ready = co_await tun_poll_->wait(UV_READABLE, stop);
    if (!ready) {
      if (ready.error().code == Errc::cancelled || ready.error().code == Errc::closed) break;
      LOG_WARN("server: tun poll: %s", ready.error().message.c_str());
      continue;
    }
    // Drain everything that is pending, a batch at a time.
    for (;;) {
      auto n = tun_->read_batch(bufs);
      if (!n) {
        if (n.error().code == Errc::closed) {   // the interface was deleted under us
          LOG_ERROR("server: tunnel interface gone: %s", n.error().message.c_str());
          this->stop();
          for (auto* b : bufs) pool_.put(b);
          co_return;
        }
        LOG_WARN("server: tun read: %s", n.error().message.c_str());
        break;
      }
      now_ = loop_.now_ms();
      for (size_t i = 0; i < *n; ++i) handle_tun_packet(bufs[i], now_);
      flush();
      if (*n < bufs.size()) break;
    }
  }
  for (auto* b : bufs) pool_.put(b);
}

// A packet from the TUN (the server's network) to a client.
void Server::handle_tun_packet(PacketBuf* pkt, uint64_t now) {
  ++counters_.tun_rx_packets;
  packet::Parsed p;
  if (packet::parse(pkt->span(), &p) != packet::ParseStatus::ok) {
    ++counters_.drop_malformed;
    return;
  }
  uint64_t sid = routes_.lookup(p.dst);
  if (sid == 0) {
    ++counters_.drop_no_session;
    return;
  }
  if (p.total_len > cfg_.tunnel.mtu) {
    // Too big for the tunnel: tell the sender (ICMP frag-needed / packet too big) through the TUN.
    ++counters_.drop_too_big;
    uint8_t reply[1280];
    auto from = p.family == Family::v4 ? addresses_.server_v4() : addresses_.server_v6();
    if (from) {
      size_t n = packet::make_too_big(pkt->span(), p, uint16_t(cfg_.tunnel.mtu), from->addr, reply, sizeof reply);
      if (n) to_tun({reply, n}, nullptr);
    }
    return;
  }
  if (p.l4_proto == 6 && p.has_l4) packet::clamp_mss(pkt->span(), p, p.family == Family::v4 ? max_mss_v4_ : max_mss_v6_);
  endpoint_->send_packet(sid, pkt->span().first(p.total_len), now);
}

// A decrypted packet from a client.
void Server::deliver_packet(uint64_t session_id, std::span<const uint8_t> ip) {
  packet::Parsed p;
  if (packet::parse(ip, &p) != packet::ParseStatus::ok) {
    ++counters_.drop_malformed;
    return;
  }
  if (p.src.is_v6() && p.src.bytes[0] == 0xfe && (p.src.bytes[1] & 0xc0) == 0x80) {
    // The client kernel's own link-local chatter (router solicitations, MLD): not routable.
    ++counters_.drop_link_local;
    return;
  }
  if (!routes_.source_allowed(session_id, p.src)) {
    ++counters_.drop_spoofed;
    uint64_t suppressed = 0;
    if (spoof_log_.allow(now_, &suppressed))
      LOG_WARN("server: dropped packet from session %016llx with foreign source %s (%llu more suppressed)",
               (unsigned long long)session_id, p.src.str().c_str(), (unsigned long long)suppressed);
    return;
  }
  // Client-to-client: straight to the other session, without a trip through the kernel (which
  // would route it back into the TUN), or dropped with `[tunnel] client_to_client = false`.
  uint64_t hop = routes_.next_hop(session_id, p.dst, cfg_.tunnel.client_to_client);
  if (hop == PeerRoutes::kRefused) {
    ++counters_.drop_client_to_client;
    return;
  }
  if (hop != 0) {
    endpoint_->send_packet(hop, ip.first(p.total_len), now_);
    return;
  }
  to_tun(ip.first(p.total_len), &p);
}

// `p` is the caller's parse of `ip` (nullptr for packets ptun made itself): parsed once per packet.
void Server::to_tun(std::span<const uint8_t> ip, const packet::Parsed* p) {
  if (tun_tx_.full()) flush_tun();
  PacketBuf* b = pool_.copy(ip);
  if (!b) {
    ++counters_.drop_pool_empty;
    return;
  }
  // MSS clamping both ways: SYNs from clients too (the copy has the same offsets as `ip`).
  if (p && p->l4_proto == 6 && p->has_l4)
    packet::clamp_mss(b->span(), *p, p->family == Family::v4 ? max_mss_v4_ : max_mss_v6_);
  tun_tx_.push(b);
}

void Server::send_datagram(const Endpoint& to, std::span<const uint8_t> dgram) {
  int fam = to.addr.is_v4() ? 0 : 1;
  if (socket_for_family_[fam] < 0) {
    ++counters_.drop_udp_send;
    return;
  }
  auto& q = udp_tx_[fam];
  if (q.full()) flush_udp();
  PacketBuf* b = pool_.copy(dgram);
  if (!b) {
    ++counters_.drop_pool_empty;
    return;
  }
  q.push(core::Datagram{b, to});
}

void Server::flush_udp() {
  for (int fam = 0; fam < 2; ++fam) {
    if (udp_tx_[fam].empty()) continue;
    core::UdpSocket& sock = *sockets_[size_t(socket_for_family_[fam])];
    size_t dropped = 0;  // flush_with counts in size_t: 32 bits on armhf and MIPS
    udp_tx_[fam].flush_with([&](std::span<core::Datagram> d) { auto s = sock.send_batch(d); return s ? *s : 0; },
                            &dropped);
    counters_.drop_udp_send += dropped;
  }
}

void Server::flush_tun() {
  size_t dropped = 0;
  counters_.tun_tx_packets += tun_tx_.flush_with(
      [&](std::span<PacketBuf*> pkts) { auto w = dev_->write_batch(pkts); return w ? *w : 0; },
      &dropped);
  counters_.drop_tun_write += dropped;
}

void Server::flush() {
  flush_tun();
  flush_udp();
}

}  // namespace ptun::server
