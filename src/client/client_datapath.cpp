// The client's policy in the shared pipeline (src/datapath): which packets go into the session,
// which datagrams are the server's, and where decrypted packets go.
#include "client/client.hpp"

namespace ptun::client {

void Client::on_device_packet(std::span<uint8_t> pkt, const packet::Parsed& p, uint64_t now) {
  now_ = now;
  if (!session_ || session_ended_ || session_->state() != proto::ClientSession::State::established) {
    ++counters_.drop_not_connected;
    return;
  }
  if (flows_ && !classify(p, flow::Dir::out, p.total_len)) return;   // per-app VPN verdict
  if (!dp_.prepare_outbound(pkt, p)) return;                           // too big: ICMP went back
  auto room = dp_.room_around(pkt);   // sealed in place when the buffer has room
  session_->send_packet_in_place(pkt, room.head, room.tail, now);
}

void Client::on_datagram(size_t, const Endpoint& peer, std::span<uint8_t> payload, uint64_t now) {
  now_ = now;
  if (!(peer == server_ep_)) {
    ++counters_.drop_foreign_source;
    return;
  }
  if (!session_ || session_ended_) return;
  if (transport_ == proto::Transport::tcp && tcp_) {
    on_udp_while_tcp(payload, now);   // client_transport.cpp
    return;
  }
  choice_.heard(now);
  session_->on_datagram_in_place(payload, now);
}

void Client::after_batch(uint64_t) { poke_timer(); }

void Client::on_device_gone(const Error& e) {   // the interface was deleted under us
  LOG_ERROR("client: tunnel interface gone: %s", e.message.c_str());
  exit_code_ = 1;
  stop();
}

void Client::deliver_packet(std::span<const uint8_t> ip) {
  packet::Parsed p;
  if (packet::parse(ip, &p) != packet::ParseStatus::ok) {
    ++dp_.counters().drop_malformed;
    return;
  }
  if (flows_ && !classify(p, flow::Dir::in, p.total_len)) return;   // a reply to a dropped flow
  dp_.to_device(ip.first(p.total_len), &p);
}

void Client::send_datagram(std::span<const uint8_t> dgram) {
  if (transport_ == proto::Transport::tcp && tcp_ && !force_udp_) return send_tcp(dgram);
  dp_.send_to(0, server_ep_, dgram);
}

// A data packet sealed in place: over UDP the pipeline seals it (on the tx thread when that is
// on); a TCP stream frames it now, so it is sealed now.
void Client::send_datagram_sealing(std::span<uint8_t> dgram, tls::PendingSeal&& seal) {
  if (transport_ == proto::Transport::tcp && tcp_ && !force_udp_) {
    seal.seal_now(dgram.data());
    return send_tcp(dgram);
  }
  dp_.send_to(0, server_ep_, dgram, std::move(seal));
}

void Client::flush() { dp_.flush(); }

}  // namespace ptun::client
