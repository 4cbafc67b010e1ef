// ClientSession's rekeying (client_session.hpp, proto/rekey.hpp): a nested session handshakes
// beside the current one; on equal SETTINGS its keys and id become the current ones, and the old
// keys stay readable for a grace period (make-before-break: no packet of either epoch is lost).
#include <cstring>

#include "common/log.hpp"
#include "proto/client_rekey_link.hpp"
#include "proto/wire.hpp"

namespace ptun::proto {

namespace {
constexpr int kMaxRecordsPerDatagram = 64;
}  // namespace

uint64_t ClientSession::rekey_deadline() const {
  if (state_ != State::established) return UINT64_MAX;
  uint64_t d = UINT64_MAX;
  if (next_) d = next_->next_deadline();
  if (old_dtls_) d = std::min(d, old_until_);
  // One attempt at a time, and not while old keys are still in their grace.
  if (!next_ && !old_dtls_)
    d = std::min(d, rekey_.deadline(stats_.packets_in + stats_.packets_out, stats_.bytes_in + stats_.bytes_out));
  return d;
}

void ClientSession::rekey_timers(uint64_t now) {
  const uint64_t gen = gen_;
  if (next_ && now >= next_->next_deadline()) {
    next_->on_timer(now);   // may complete (rekey_established) or fail (rekey_failed)
    if (gen != gen_) return;
  }
  if (old_dtls_ && now >= old_until_) close_old(now);
  if (!next_ && !old_dtls_ && rekey_.due(now, stats_.packets_in + stats_.packets_out, stats_.bytes_in + stats_.bytes_out))
    start_rekey(now);
}

void ClientSession::start_rekey(uint64_t now) {
  if (!link_) link_ = std::make_unique<NextLink>(*this);
  ClientParams p = params_;
  p.rekey = RekeyParams{0, 0, 0, p.rekey.retry_ms, p.rekey.grace_ms};   // the attempt does not rekey itself
  next_ = std::make_unique<ClientSession>(config_, server_name_, software_version_, rng_, *link_, p);
  next_->rekey_of_ = session_id_;
  LOG_DEBUG("session %016llx: rekeying as %016llx", (unsigned long long)session_id_,
            (unsigned long long)next_->session_id_);
  next_->start(now);   // a failure here comes back through rekey_failed
}

void ClientSession::rekey_established(const NetworkSettings& s) {
  const uint64_t now = now_;
  if (!next_) return;
  if (s != settings_) {
    // The server would give us other addresses or routes: a rekey must change nothing else, so
    // this becomes an ordinary reconnect (the caller applies the settings afresh).
    next_retired_ = std::move(next_);
    next_retired_->close(CloseReason::user, now);   // its on_closed finds next_ empty: ignored
    abort_session(CloseReason::none, "rekey: the server pushed different settings, reconnecting", now);
    return;
  }
  ClientSession& n = *next_;
  // The old keys: still accepted for the grace, their datagrams (the final CLOSE) under the old id.
  old_dtls_ = std::move(dtls_);
  old_dtls_->set_output(&ClientSession::old_output_thunk, this);
  old_id_ = session_id_;
  old_until_ = now + params_.rekey.grace_ms;
  // The new keys transmit from now on, under the new id.
  dtls_ = std::move(n.dtls_);
  dtls_->set_output(&ClientSession::output_thunk, this);
  session_id_ = n.session_id_;
  // The nested session is over: its loops stop (gen) and it is freed outside this call.
  ++n.gen_;
  n.state_ = State::closed;
  next_retired_ = std::move(next_);
  ++stats_.rekeys;
  stats_.last_handshake_ms = n.stats_.last_handshake_ms;
  server_time_ = n.server_time_;   // the clock skew as of the newest SETTINGS
  settings_at_ms_ = n.settings_at_ms_;
  stats_.last_rx_ms = now;
  rekey_.keys_made(now, stats_.packets_in + stats_.packets_out, stats_.bytes_in + stats_.bytes_out);
  LOG_DEBUG("session %016llx: rekeyed, now %016llx (%llu rekeys)", (unsigned long long)old_id_,
           (unsigned long long)session_id_, (unsigned long long)stats_.rekeys);
  cb_.on_rekeyed();
}

void ClientSession::rekey_failed(CloseReason reason, const std::string& detail) {
  if (!next_) return;   // retired on purpose (settings differ, our own end)
  next_retired_ = std::move(next_);
  ++stats_.rekey_failures;
  rekey_.attempt_failed(now_);
  LOG_WARN("session %016llx: rekey failed (%s%s%s), the current keys stay; retry in %u s",
           (unsigned long long)session_id_, to_string(reason), detail.empty() ? "" : ": ", detail.c_str(),
           params_.rekey.retry_ms / 1000);
}

// Records under the replaced keys during the grace: IP packets are delivered as ever; a CLOSE or a
// broken stream just ends the grace early. Nothing here can end the session itself.
void ClientSession::old_ingress(std::span<const uint8_t> p, uint64_t now) {
  const uint64_t gen = gen_;
  tls::DtlsSession* old = old_dtls_.get();
  old->feed(p.subspan(kOuterHeaderSize), now);
  bool any = false;
  for (int i = 0; i < kMaxRecordsPerDatagram && old == old_dtls_.get(); ++i) {
    auto r = old->read(rx_.data(), rx_.size(), now);
    if (!r) {
      old_retired_ = std::move(old_dtls_);
      return;
    }
    if (*r == 0) break;
    any = true;
    std::span<const uint8_t> rec{rx_.data(), *r};
    stats_.last_rx_ms = now;
    switch (classify_inner(rec)) {
      case InnerKind::ipv4:
      case InnerKind::ipv6:
        ++stats_.packets_in;
        stats_.bytes_in += rec.size();
        cb_.deliver_packet(rec);
        if (gen != gen_) return;
        break;
      case InnerKind::control:
        if (MsgType(rec[0]) == MsgType::close) {
          old_retired_ = std::move(old_dtls_);
          return;
        }
        ++stats_.drop_unexpected;   // PING/PONG/SETTINGS of the old keys: nothing left to do
        break;
      default: ++stats_.drop_unknown_type; break;
    }
  }
  if (!any) ++stats_.drop_no_record;
}

void ClientSession::close_old(uint64_t now) {
  if (!old_dtls_) return;
  if (old_dtls_->established()) {
    uint8_t buf[1 + 1 + kMaxCloseText];
    // CLOSE alone, no close_notify: reordered ahead of the CLOSE it would end the session as a
    // plain shutdown. A lost CLOSE is covered by the server's own grace timer.
    if (auto n = encode_close(CloseReason::rekeyed, "", buf); n) (void)old_dtls_->write({buf, *n}, now);
  }
  old_retired_ = std::move(old_dtls_);
  old_until_ = UINT64_MAX;
}

void ClientSession::drop_rekey_state(uint64_t now, bool send_close) {
  if (next_) {
    next_retired_ = std::move(next_);
    if (send_close) next_retired_->close(CloseReason::user, now);   // rekey_failed ignores it
  }
  if (send_close) close_old(now);
  if (old_dtls_) old_retired_ = std::move(old_dtls_);
  old_until_ = UINT64_MAX;
}

}  // namespace ptun::proto
