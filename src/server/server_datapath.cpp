// The server's policy in the shared pipeline (src/datapath): which session a packet from the TUN
// (or the userspace forwarder) belongs to, and where a client's decrypted packet may go.
#include "server/server.hpp"

namespace ptun::server {

// A packet from the server's network (TUN or forwarder) to a client.
void Server::on_device_packet(std::span<uint8_t> pkt, const packet::Parsed& p, uint64_t now) {
  now_ = now;
  uint64_t sid = peers_.lookup(p.dst);
  if (sid == 0) {
    ++counters_.drop_no_session;
    return;
  }
  if (!dp_.prepare_outbound(pkt, p)) return;   // too big: ICMP went back through the device
  auto room = dp_.room_around(pkt);   // sealed in place when the buffer has room
  endpoint_->send_packet_in_place(sid, pkt, room.head, room.tail, now);
}

void Server::on_datagram(size_t, const Endpoint& peer, std::span<uint8_t> payload, uint64_t now) {
  now_ = now;
  endpoint_->on_datagram_in_place(peer, payload, now);
}

void Server::after_batch(uint64_t) { poke_timer(); }

void Server::on_device_gone(const Error& e) {   // the interface was deleted under us
  LOG_ERROR("server: tunnel interface gone: %s", e.message.c_str());
  stop();
}

// A decrypted packet from a client.
void Server::deliver_packet(uint64_t session_id, std::span<const uint8_t> ip) {
  // A session replaced by a rekey, in its grace: its packets are its successor's.
  if (rekey_grace_.size()) session_id = rekey_grace_.resolve(session_id);
  packet::Parsed p;
  if (packet::parse(ip, &p) != packet::ParseStatus::ok) {
    ++dp_.counters().drop_malformed;
    return;
  }
  if (p.src.is_v6() && p.src.bytes[0] == 0xfe && (p.src.bytes[1] & 0xc0) == 0x80) {
    // The client kernel's own link-local chatter (router solicitations, MLD): not routable.
    ++counters_.drop_link_local;
    return;
  }
  if (!peers_.source_allowed(session_id, p.src)) {
    ++counters_.drop_spoofed;
    uint64_t suppressed = 0;
    if (spoof_log_.allow(now_, &suppressed))
      LOG_WARN("server: dropped packet from session %016llx with foreign source %s (%llu more suppressed)",
               (unsigned long long)session_id, p.src.str().c_str(), (unsigned long long)suppressed);
    return;
  }
  // Client-to-client: straight to the other session, without a trip through the kernel (which
  // would route it back into the TUN), or dropped with `[tunnel] client_to_client = false`.
  uint64_t hop = peers_.next_hop(session_id, p.dst, cfg_.tunnel.client_to_client);
  if (hop == PeerTable::kRefused) {
    ++counters_.drop_client_to_client;
    return;
  }
  if (hop != 0) {
    endpoint_->send_packet(hop, ip.first(p.total_len), now_);
    return;
  }
  dp_.to_device(ip.first(p.total_len), &p);   // MSS clamped both ways: SYNs from clients too
}

// Datagrams leave from the first listen socket of the peer's family: with several listen
// addresses of one family, a client that reached another one sees replies from a different
// source address (a known limit, see README "Server").
void Server::send_datagram(const Endpoint& to, std::span<const uint8_t> dgram) {
  // A TCP connection's endpoint: framed onto it (a full queue drops it, counted there).
  if (streams_ && streams_->owns(to)) {
    (void)streams_->send(to, dgram);
    return;
  }
  int slot = socket_for_family_[to.addr.is_v4() ? 0 : 1];
  if (slot < 0) {
    ++dp_.counters().drop_udp_send;
    return;
  }
  dp_.send_to(size_t(slot), to, dgram);
}

// A data packet sealed in place: the pipeline seals it (on the tx thread when that is on); a TCP
// stream frames it now, so it is sealed now.
void Server::send_datagram_sealing(const Endpoint& to, std::span<uint8_t> dgram, tls::PendingSeal&& seal) {
  int slot = socket_for_family_[to.addr.is_v4() ? 0 : 1];
  if ((streams_ && streams_->owns(to)) || slot < 0) {
    seal.seal_now(dgram.data());
    return send_datagram(to, dgram);
  }
  dp_.send_to(size_t(slot), to, dgram, std::move(seal));
}

void Server::on_stream_datagram(const Endpoint& from, std::span<uint8_t> dgram, uint64_t now) {
  now_ = now;
  endpoint_->on_datagram_in_place(from, dgram, now);
}

void Server::after_stream_batch() {
  flush();   // packets for the TUN and datagrams for other peers, as after a UDP batch
  poke_timer();
}

void Server::flush() { dp_.flush(); }

}  // namespace ptun::server
