// ServerEndpoint, per-session part: DTLS records in, packets and control messages out.
#include <algorithm>

#include "proto/server_session.hpp"
#include "proto/wire.hpp"

namespace ptun::proto {

namespace {
constexpr int kMaxRecordsPerDatagram = 64;
// An established session answers a repeated CLIENT_HELLO (its SETTINGS were lost) at most this
// often, so an authenticated peer cannot make the server encode settings in a loop.
constexpr uint64_t kSettingsResendMinMs = 250;
// Return routability (docs/protocol.md §6), as QUIC does it (RFC 9000 §8): an address not yet
// validated gets at most 3x the bytes its authentic datagrams carried, so a replayed datagram
// with a forged source cannot turn the server into an amplifier, and only PINGs and PONGs.
constexpr uint64_t kPathBudgetFactor = 3;
// The challenge is repeated (same value) on later datagrams from the new address at most this
// often, in case it or its PONG was lost.
constexpr uint64_t kPathChallengeMinMs = 250;
// The server's own RTT samples (docs/protocol.md §5): a PING soon after the session starts, then
// one per interval; the client answers every PING with a PONG. Probe values carry the top bit, so
// they never equal a path challenge (a small counter).
constexpr uint64_t kRttFirstProbeMs = 1000;
constexpr uint64_t kRttProbeIntervalMs = 30000;   // rarer than keepalives: the client keeps its own
constexpr uint64_t kRttProbeTag = uint64_t(1) << 63;
}  // namespace

void ServerEndpoint::session_ingress(Session& s, std::span<const uint8_t> dtls, const Endpoint& from,
                                     bool writable, uint64_t now) {
  const bool roaming = s.peer != from;
  bool any = false;
  // One authentic record: the first from a new address makes it a candidate; the session moves
  // only when the candidate answers a challenge (handle_control, PONG). False: session closed.
  auto on_record = [&](std::span<const uint8_t> rec) {
    if (!any && roaming) path_seen(s, from, kOuterHeaderSize + dtls.size());
    any = true;
    s.stats.last_rx_ms = now;
    s.rx_on_path = roaming;
    handle_record(s, rec, now);
    s.rx_on_path = false;
    return !s.closed;
  };
  tls::RecordCursor cursor;
  if (writable && s.state != ServerSessionState::handshaking &&
      s.dtls->open_begin({const_cast<uint8_t*>(dtls.data()), dtls.size()}, &cursor) == tls::DatagramPath::fast) {
    // Application data only: opened in place, no copy (DtlsSession's fast path).
    std::span<uint8_t> plain;
    for (int i = 0; i < kMaxRecordsPerDatagram && s.dtls->open_next(cursor, &plain); ++i)
      if (!on_record(plain)) return;
  } else {
    s.dtls->feed(dtls, now);
    if (s.state == ServerSessionState::handshaking) {
      step_handshake(s, now);
      if (s.closed || s.state == ServerSessionState::handshaking) {
        schedule(s);
        return;
      }
    }
    for (int i = 0; i < kMaxRecordsPerDatagram; ++i) {
      auto r = s.dtls->read(rx_.data(), rx_.size(), now);
      if (!r) {
        // A forged datagram cannot get here (bad records are discarded silently); this is the
        // peer's close_notify or a fatal alert inside the association.
        CloseReason why = r.error().code == Errc::closed ? CloseReason::shutdown : CloseReason::protocol_error;
        end_session(s, why, false, "", now);
        return;
      }
      if (*r == 0) break;
      if (!on_record({rx_.data(), *r})) return;
    }
  }
  if (!any) {
    ++s.stats.drop_no_record;
    if (roaming)
      ++counters_.roam_unauthenticated;
    else if (s.state != ServerSessionState::handshaking)
      ++counters_.replay_or_auth;
  } else if (roaming && s.path && s.path->addr == from) {
    challenge_path(s, now);
  }
  schedule(s);
}

void ServerEndpoint::path_seen(Session& s, const Endpoint& from, size_t datagram_bytes) {
  if (!s.path || s.path->addr != from) {
    // A newer address replaces an unvalidated one: the client is where it last spoke from.
    s.path.emplace();
    s.path->addr = from;
    s.path->challenge = ++path_challenges_;
  }
  s.path->bytes_in += datagram_bytes;
}

void ServerEndpoint::challenge_path(Session& s, uint64_t now) {
  PathCheck& p = *s.path;
  if (p.challenged && now < p.last_challenge_ms + kPathChallengeMinMs) return;
  uint8_t buf[kPingSize];
  if (!write_on_path(s, {buf, encode_ping(Ping{p.challenge, now}, buf)}, now)) return;
  p.challenged = true;
  p.last_challenge_ms = now;
  ++counters_.roam_challenges;
}

void ServerEndpoint::path_validated(Session& s) {
  s.peer = s.path->addr;
  s.path.reset();
  ++s.stats.roams;
  cb_.on_roamed(s.id, s.peer);
}

bool ServerEndpoint::write_on_path(Session& s, std::span<const uint8_t> rec, uint64_t now) {
  if (!s.path) return write_record(s, rec, now);
  uint64_t bytes = kOuterHeaderSize + s.dtls->record_overhead() + rec.size();
  if (s.path->bytes_out + bytes > kPathBudgetFactor * s.path->bytes_in) {
    ++counters_.roam_budget_exceeded;
    return false;
  }
  s.tx_on_path = true;
  bool ok = write_record(s, rec, now);
  s.tx_on_path = false;
  return ok;
}

void ServerEndpoint::step_handshake(Session& s, uint64_t now) {
  switch (s.dtls->handshake(now)) {
    case tls::DtlsSession::Hs::in_progress: return;
    case tls::DtlsSession::Hs::done:
      s.state = ServerSessionState::waiting_hello;
      s.peer_cn = s.dtls->peer_common_name();
      s.peer_serial = s.dtls->peer_serial();
      s.peer_not_after = s.dtls->peer_not_after();
      s.peer_fingerprint = s.dtls->peer_fingerprint();
      s.stats.last_handshake_ms = now;
      s.stats.last_rx_ms = now;
      return;
    case tls::DtlsSession::Hs::failed: {
      ++counters_.handshake_failed;
      uint64_t suppressed = 0;
      if (log_limit_.allow(now, &suppressed))
        LOG_INFO("DTLS handshake from %s failed: %s (%llu similar suppressed)", s.peer.str().c_str(),
                 s.dtls->last_error().c_str(), static_cast<unsigned long long>(suppressed));
      end_session(s, CloseReason::handshake_failed, false, "", now);
      return;
    }
  }
}

void ServerEndpoint::handle_record(Session& s, std::span<const uint8_t> rec, uint64_t now) {
  switch (classify_inner(rec)) {
    case InnerKind::ipv4:
    case InnerKind::ipv6:
      if (s.state != ServerSessionState::established) {
        ++s.stats.drop_not_established;
        return;
      }
      ++s.stats.packets_in;
      s.stats.bytes_in += rec.size();
      cb_.deliver_packet(s.id, rec);
      return;
    case InnerKind::control: handle_control(s, rec, now); return;
    case InnerKind::unknown:
    case InnerKind::empty: ++s.stats.drop_unknown_type; return;
  }
}

void ServerEndpoint::handle_control(Session& s, std::span<const uint8_t> rec, uint64_t now) {
  switch (MsgType(rec[0])) {
    case MsgType::client_hello: handle_client_hello(s, rec, now); return;
    case MsgType::ping: {
      auto m = decode_ping(rec);
      if (!m) {
        ++s.stats.drop_malformed;
        return;
      }
      // The PONG goes back where the PING came from: a roaming client confirms its new path
      // with it (within the unvalidated address's budget).
      uint8_t buf[kPingSize];
      std::span<const uint8_t> pong{buf, encode_pong(*m, buf)};
      if (s.rx_on_path)
        write_on_path(s, pong, now);
      else
        write_record(s, pong, now);
      return;
    }
    case MsgType::pong: {
      auto m = decode_ping(rec);
      if (!m) {
        ++s.stats.drop_malformed;
        return;
      }
      // The server pings to challenge a new address (the answer must come from there) and to
      // sample the RTT on the session's own path (its clock, echoed).
      if (s.rx_on_path && s.path && s.path->challenged && m->seq == s.path->challenge) {
        path_validated(s);
        return;
      }
      if (!s.rx_on_path && s.rtt_probe_seq && m->seq == s.rtt_probe_seq && m->timestamp_ms <= now) {
        s.rtt_probe_seq = 0;
        uint64_t rtt = (now - m->timestamp_ms) * 1000;
        s.stats.rtt_us_last = rtt;
        s.stats.rtt_us_smoothed = s.stats.rtt_us_smoothed ? (7 * s.stats.rtt_us_smoothed + rtt) / 8 : rtt;
        ++s.stats.pongs_received;
        return;
      }
      ++s.stats.drop_unexpected;
      return;
    }
    case MsgType::close: {
      auto m = decode_close(rec);
      if (!m) {
        ++s.stats.drop_malformed;
        return;
      }
      end_session(s, m->reason, false, "", now);
      return;
    }
    case MsgType::settings: ++s.stats.drop_unexpected; return;
  }
  ++s.stats.drop_unknown_type;
}

void ServerEndpoint::handle_client_hello(Session& s, std::span<const uint8_t> rec, uint64_t now) {
  if (s.state == ServerSessionState::established) {
    // The client did not get (all of) SETTINGS and asks again.
    if (now >= s.last_settings_ms + kSettingsResendMinMs) send_settings(s, now);
    return;
  }
  if (s.authorizing) return;  // the client resent it while the app decides
  auto hello = decode_client_hello(rec);
  if (!hello) {
    ++s.stats.drop_malformed;
    end_session(s, CloseReason::protocol_error, true, hello.error().message, now);
    return;
  }
  if (hello->protocol_version != kProtocolVersion) {
    end_session(s, CloseReason::version_mismatch, true,
                "server speaks protocol version " + std::to_string(kProtocolVersion), now);
    return;
  }
  if (!valid_peer_name(s.peer_cn)) {
    // The CN becomes a lease key, JSON text, log text: a name that is not clean UTF-8 would
    // throw or garble downstream (issue 19), so it is refused here, once, for every consumer.
    ++counters_.refused;
    end_session(s, CloseReason::auth_refused, true, "certificate name is not printable UTF-8 text", now);
    return;
  }
  CloseReason refuse = CloseReason::auth_refused;
  auto settings = cb_.authorize(s.id, s.peer_cn, *hello, &refuse);
  if (s.closed) return;
  if (!settings && settings.error().code == Errc::would_block) {
    s.authorizing = true;
    return;
  }
  answer_hello(s, std::move(settings), refuse, now);
}

bool ServerEndpoint::complete_authorize(uint64_t session_id, Result<NetworkSettings> settings, CloseReason refuse,
                                        uint64_t now) {
  Depth depth(*this);
  auto it = sessions_.find(session_id);
  if (it == sessions_.end() || !it->second->authorizing || it->second->closed) return false;
  Session& s = *it->second;
  s.authorizing = false;
  answer_hello(s, std::move(settings), refuse, now);
  schedule(s);
  return true;
}

void ServerEndpoint::answer_hello(Session& s, Result<NetworkSettings> settings, CloseReason refuse, uint64_t now) {
  if (!settings) {
    ++counters_.refused;
    end_session(s, refuse, true, settings.error().message, now);
    return;
  }
  s.settings = std::move(*settings);
  s.dead_ms = uint64_t(s.settings.dead_peer_secs) * 1000;
  if (!send_settings(s, now)) {
    end_session(s, CloseReason::protocol_error, true, "server could not encode its settings", now);
    return;
  }
  half_open_ended(s);
  s.state = ServerSessionState::established;
  ++counters_.sessions_established;
  s.stats.established_at_ms = now;
  s.rtt_probe_ms = now + kRttFirstProbeMs;
  cb_.on_established(s.id, s.peer_cn, s.peer);
}

void ServerEndpoint::probe_rtt(Session& s, uint64_t now) {
  s.rtt_probe_ms = now + kRttProbeIntervalMs;
  s.rtt_probe_seq = kRttProbeTag | ++rtt_probes_;
  uint8_t buf[kPingSize];
  write_record(s, {buf, encode_ping(Ping{s.rtt_probe_seq, now}, buf)}, now);
}

bool ServerEndpoint::send_settings(Session& s, uint64_t now) {
  auto parts = encode_settings(s.settings, s.id, s.dtls->max_plaintext(), cb_.wall_time());
  if (!parts) {
    uint64_t suppressed = 0;
    if (log_limit_.allow(now, &suppressed))
      LOG_WARN("session %014llx: cannot send settings: %s", static_cast<unsigned long long>(s.id),
               parts.error().message.c_str());
    return false;
  }
  s.last_settings_ms = now;
  for (const auto& p : *parts) write_record(s, p, now);
  return true;
}

bool ServerEndpoint::write_record(Session& s, std::span<const uint8_t> rec, uint64_t now) {
  if (auto r = s.dtls->write(rec, now); !r) {
    ++s.stats.drop_send_error;
    return false;
  }
  s.stats.last_tx_ms = now;
  return true;
}

void ServerEndpoint::end_session(Session& s, CloseReason reason, bool send_close, const std::string& text,
                                 uint64_t now) {
  if (s.closed) return;
  s.closed = true;
  if (send_close && s.dtls->established()) {
    uint8_t buf[2 + kMaxCloseText];
    if (auto n = encode_close(reason, text, buf); n) {
      // CLOSE is not retransmitted: a second copy (a distinct record, so not a replay) halves
      // the chance that a lost datagram leaves the client waiting for its dead-peer timer.
      write_record(s, {buf, *n}, now);
      write_record(s, {buf, *n}, now);
    }
    s.dtls->close_notify(now);
  }
  const bool was_established = s.state == ServerSessionState::established;
  if (!was_established) half_open_ended(s);
  auto it = sessions_.find(s.id);
  if (it != sessions_.end() && it->second.get() == &s) {
    graveyard_.push_back(std::move(it->second));
    sessions_.erase(it);
  }
  if (was_established) cb_.on_closed(s.id, reason, s.stats);
}

}  // namespace ptun::proto
