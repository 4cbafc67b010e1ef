// The TCP fallback transport of the client (docs/protocol.md §7). The session is the same
// ClientSession either way; only where its datagrams go changes:
//
//   UDP handshake unanswered, or an established session deaf on UDP (proto::TransportChoice)
//     -> connect TCP to server:tcp_port (fwmark: outside the tunnel), TLS (the server's
//        certificate and name checked as for DTLS; tls::TlsStream) -> handshaking: a new
//        handshake over TCP; established: PING over TCP, the server moves the session there
//        (return routability, §6), same session id, keys and addresses
//   on TCP, every udp_probe_secs: a PING over UDP; an authentic PONG back over UDP -> the
//     session's datagrams go over UDP again (the server's challenge is answered over UDP, so it
//     moves the session back too); the TCP connection is closed a few seconds later
//   TCP connection lost -> back on UDP (TransportChoice decides again)
#include "client/client.hpp"
#include "tls/tls_stream.hpp"

namespace ptun::client {
namespace {
constexpr uint64_t kTcpLingerMs = 3000;   // after a return to UDP: what the server sent over TCP arrives
}  // namespace

proto::TransportChoice::View Client::transport_view() const {
  proto::TransportChoice::View v;
  if (!session_ || session_ended_) return v;
  v.established = session_->state() == proto::ClientSession::State::established;
  v.last_rx_ms = session_->stats().last_rx_ms;
  v.last_tx_ms = session_->stats().last_tx_ms;
  return v;
}

uint64_t Client::transport_deadline() const {
  uint64_t d = std::min(tcp_connect_deadline_, tcp_close_at_);
  if (session_ && !session_ended_ && cfg_.tcp_port) d = std::min(d, choice_.deadline(transport_view()));
  return d;
}

void Client::transport_tick() {
  if (now_ >= tcp_connect_deadline_ && tcp_cancel_ && !tcp_) {
    tcp_connect_deadline_ = UINT64_MAX;
    tcp_cancel_->cancel();   // run_tcp sees the failed connect
  }
  if (now_ >= tcp_close_at_) {
    tcp_close_at_ = UINT64_MAX;
    if (transport_ == proto::Transport::udp) close_tcp();
  }
  if (!session_ || session_ended_ || !cfg_.tcp_port) return;
  switch (choice_.next(now_, transport_view())) {
    case proto::TransportChoice::Action::none:
      break;
    case proto::TransportChoice::Action::ping:
      session_->on_path_changed(now_);
      break;
    case proto::TransportChoice::Action::fall_back:
      LOG_WARN("client: no answer over UDP for %u s: trying TCP port %u", cfg_.tcp_fallback_secs, unsigned(cfg_.tcp_port));
      if (tcp_) {
        on_tcp_connected();
      } else {
        tcp_wanted_ = true;
        tcp_wake_->poke();
      }
      break;
    case proto::TransportChoice::Action::probe_udp:
      force_udp_ = true;   // this PING alone goes over UDP
      session_->on_path_changed(now_);
      force_udp_ = false;
      break;
  }
  flush();
}

void Client::on_tcp_connected() {
  now_ = loop_.now_ms();
  transport_ = proto::Transport::tcp;
  choice_.switched(proto::Transport::tcp, now_);
  tcp_close_at_ = UINT64_MAX;
  if (!session_ || session_ended_) return;   // the next attempt starts over TCP
  if (session_->state() == proto::ClientSession::State::established) {
    LOG_INFO("client: session %016llx now over TCP %s", (unsigned long long)session_->session_id(),
             tcp_->peer().str().c_str());
    session_->on_path_changed(now_);   // the server moves the session on this PING (§6)
    flush();
    poke_timer();
    return;
  }
  LOG_INFO("client: handshake over TCP %s", tcp_->peer().str().c_str());
  start_handshake();
}

void Client::on_tcp_lost(const std::string& why) {
  now_ = loop_.now_ms();
  tcp_wanted_ = false;
  if (transport_ != proto::Transport::tcp) return;
  LOG_WARN("client: TCP transport lost (%s): back on UDP", why.c_str());
  transport_ = proto::Transport::udp;
  choice_.switched(proto::Transport::udp, now_);
  if (session_ && !session_ended_) {
    if (session_->state() == proto::ClientSession::State::established) session_->on_path_changed(now_);
    else start_handshake();
  }
  flush();
  poke_timer();
}

void Client::on_tcp_datagram(std::span<uint8_t> d) {
  now_ = loop_.now_ms();
  if (!session_ || session_ended_) return;
  if (transport_ == proto::Transport::tcp) choice_.heard(now_);
  session_->on_datagram_in_place(d, now_);   // run_tcp flushes once per read, not per datagram
}

void Client::on_udp_while_tcp(std::span<uint8_t> payload, uint64_t now) {
  uint64_t pongs = session_->stats().pongs_received;
  force_udp_ = true;   // a challenge PING of the server's is answered where it came from
  session_->on_datagram_in_place(payload, now);
  force_udp_ = false;
  if (!session_ || session_ended_ || session_->stats().pongs_received == pongs) return;
  // An authentic PONG over UDP: UDP works again.
  transport_ = proto::Transport::udp;
  choice_.switched(proto::Transport::udp, now);
  tcp_close_at_ = now + kTcpLingerMs;
  LOG_INFO("client: UDP answers again: session %016llx back over UDP", (unsigned long long)session_->session_id());
  session_->on_path_changed(now);
  poke_timer();
}

void Client::close_tcp() {
  tcp_wanted_ = false;
  if (tcp_) tcp_->close();   // run_tcp's read ends; transport_ is UDP already, so nothing moves
  else if (tcp_cancel_) tcp_cancel_->cancel();
}

void Client::push_tls() {
  auto& out = tcp_tls_->outbox();
  if (!out.empty()) (void)tcp_->send(out);
  out.clear();
}

void Client::send_tcp(std::span<const uint8_t> dgram) {
  tcp_tx_.clear();
  // Room first: a TLS record sealed and then not sent would break the stream. Full: dropped, as
  // a full UDP socket would.
  constexpr size_t kTlsRecordOverhead = 64;
  if (!proto::append_frame(tcp_tx_, dgram) || !tcp_->fits(tcp_tx_.size() + kTlsRecordOverhead) ||
      !tcp_tls_->write(tcp_tx_)) {
    ++tcp_drops_;
    return;
  }
  push_tls();
}

core::Task<void> Client::run_tcp(core::CancelToken stop) {
  std::vector<uint8_t> buf(64 << 10);
  while (!stop.cancelled()) {
    if (!tcp_wanted_) {
      auto w = co_await tcp_wake_->wait_for(3600 * 1000, stop);
      if (!w && w.error().code == Errc::cancelled) break;
      continue;
    }
    core::CancelSource cancel(stop);
    tcp_cancel_ = &cancel;
    Endpoint to{server_ep_.addr, cfg_.tcp_port};
    tcp_connect_deadline_ = loop_.now_ms() + uint64_t(cfg_.tcp_fallback_secs) * 1000;
    poke_timer();
    core::TcpOptions o;
    o.fwmark = stack_ ? 0 : cfg_.tunnel.fwmark;   // outside the tunnel, like the UDP socket
    auto c = co_await core::TcpStream::connect(loop_, to, o, cancel.token());
    if (!c) {
      tcp_connect_deadline_ = UINT64_MAX;
      tcp_cancel_ = nullptr;
      if (stop.cancelled()) break;
      ++tcp_connect_failures_;
      LOG_WARN("client: TCP to %s: %s", to.str().c_str(),
               c.error().code == Errc::cancelled ? "no answer" : c.error().message.c_str());
      on_tcp_lost("connect failed");
      continue;
    }
    std::unique_ptr<core::TcpStream> s = std::move(*c);
    auto t = tls::TlsStream::make(tls_stream_, cfg_.server_name);
    std::unique_ptr<tls::TlsStream> tls = t ? std::move(*t) : nullptr;
    std::string why = "closed by the server";
    if (!tls || !tls->start()) why = "TLS setup failed";
    proto::Deframer d(false);
    if (tls) {
      (void)s->send(tls->outbox());   // the ClientHello
      tls->outbox().clear();
    }
    while (tls && !tls->failed() && (tcp_wanted_ || transport_ == proto::Transport::tcp || tcp_close_at_ != UINT64_MAX)) {
      auto n = co_await s->read_some(buf, cancel.token());
      if (!n || *n == 0) {
        if (!n) why = n.error().message;
        break;
      }
      bool bad = false;
      auto r = tls->feed(std::span<const uint8_t>(buf.data(), *n), [&](std::span<const uint8_t> plain) {
        if (!bad) bad = d.feed(plain, [&](std::span<uint8_t> f) { on_tcp_datagram(f); }) != proto::Deframer::Status::ok;
      });
      flush();   // the TUN writes of this read's packets, in one batch
      poke_timer();
      if (!tls->outbox().empty()) {
        (void)s->send(tls->outbox());
        tls->outbox().clear();
      }
      if (!r) {
        why = r.error().message;
        break;
      }
      if (bad) {
        why = "malformed framing from the server";
        break;
      }
      if (tls->established() && !tcp_) {
        // TLS is up (the server's certificate verified): the stream is ours.
        tcp_connect_deadline_ = UINT64_MAX;
        tcp_ = s.get();
        tcp_tls_ = tls.get();
        (void)tls->write(proto::kStreamPreamble);
        push_tls();
        LOG_INFO("client: TLS to %s up (%s)", to.str().c_str(), tls->cipher().c_str());
        if (tcp_wanted_) on_tcp_connected();
      }
    }
    if (!tcp_) ++tcp_connect_failures_;
    tcp_connect_deadline_ = UINT64_MAX;
    tcp_ = nullptr;
    tcp_tls_ = nullptr;
    tcp_cancel_ = nullptr;
    s->close();
    if (stop.cancelled()) break;
    on_tcp_lost(why);
  }
  tcp_ = nullptr;
  tcp_tls_ = nullptr;
  tcp_cancel_ = nullptr;
}

nlohmann::json Client::transport_json() const {
  nlohmann::json j = {{"fallbacks", choice_.fallbacks()},
                      {"returns_to_dtls", choice_.returns()},
                      {"tcp_port", cfg_.tcp_port},
                      {"tcp_drops", tcp_drops_},
                      {"tcp_connect_failures", tcp_connect_failures_},
                      {"udp_probe_secs", choice_.probe_interval_ms() / 1000}};
  if (tcp_) j["tcp_queued_bytes"] = tcp_->queued();
  return j;
}

}  // namespace ptun::client
