#include "proto/client_session.hpp"
#include "proto/client_rekey_link.hpp"

#include <algorithm>
#include <cstring>

#include "common/limits.hpp"
#include "common/log.hpp"
#include "proto/wire.hpp"

namespace ptun::proto {

namespace {
constexpr uint32_t kMaxHelloBackoffMs = 8000;
// A datagram carries at most a handful of records; the bound keeps one call's work finite.
constexpr int kMaxRecordsPerDatagram = 64;
// Big enough for any DTLS record mbedTLS emits or accepts (16 KiB plaintext + expansion).
constexpr size_t kRecordBuf = 16384 + 512;
}  // namespace

const char* to_string(ClientSession::State s) {
  switch (s) {
    case ClientSession::State::idle: return "idle";
    case ClientSession::State::handshaking: return "handshaking";
    case ClientSession::State::waiting_settings: return "waiting_settings";
    case ClientSession::State::established: return "established";
    case ClientSession::State::closed: return "closed";
  }
  return "?";
}

ClientSession::ClientSession(std::shared_ptr<tls::DtlsConfig> config, std::string server_name,
                             std::string software_version, Rng& rng, Callbacks& cb, const ClientParams& params)
    : config_(std::move(config)), server_name_(std::move(server_name)),
      software_version_(utf8_prefix(software_version, kMaxSoftwareVersion)), rng_(rng), cb_(cb),
      params_(params), rekey_(params.rekey), tx_(kOuterHeaderSize + kRecordBuf), rx_(kRecordBuf) {
  if (!valid_utf8(software_version_)) software_version_ = "unknown";
}

ClientSession::~ClientSession() = default;

void ClientSession::output_thunk(void* ctx, std::span<const uint8_t> datagram) {
  static_cast<ClientSession*>(ctx)->emit(datagram);
}

void ClientSession::old_output_thunk(void* ctx, std::span<const uint8_t> datagram) {
  auto* self = static_cast<ClientSession*>(ctx);
  self->emit_as(self->old_id_, datagram);
}

void ClientSession::emit(std::span<const uint8_t> d) { emit_as(session_id_, d); }

void ClientSession::emit_as(uint64_t id, std::span<const uint8_t> d) {
  if (d.size() > tx_.size() - kOuterHeaderSize) {
    ++stats_.drop_send_error;
    return;
  }
  // The one copy out of mbedTLS's buffer lands just behind the header's room.
  std::memcpy(tx_.data() + kOuterHeaderSize, d.data(), d.size());
  encode_outer_header(tx_.data(), id);
  cb_.send_datagram({tx_.data(), kOuterHeaderSize + d.size()});
}

void ClientSession::start(uint64_t now) {
  reset_for_start(now);
  if (auto r = dtls_->set_hostname(server_name_); !r) {
    finish(CloseReason::handshake_failed, r.error().message);
    return;
  }
  drive_handshake(now);
}

void ClientSession::start_from_snapshot(const tls::DtlsSnapshot& snap, uint64_t now) {
  reset_for_start(now);
  if (auto r = dtls_->restore(snap); !r) {
    finish(CloseReason::handshake_failed, r.error().message);
    return;
  }
  on_handshake_done(now);
}

void ClientSession::reset_for_start(uint64_t now) {
  ++gen_;
  retired_ = std::move(dtls_);  // may be mid-call if start() runs from a callback
  drop_rekey_state(now, false);
  rekey_ = RekeySchedule(params_.rekey);
  session_id_ = random_session_id(rng_);
  stats_ = SessionStats{};
  settings_ = NetworkSettings{};
  assembler_.reset();
  close_reason_ = CloseReason::none;
  started_ms_ = now;
  hello_retry_at_ = UINT64_MAX;
  ping_seq_ = 0;
  dtls_ = std::make_unique<tls::DtlsSession>(config_, &ClientSession::output_thunk, this);
  state_ = State::handshaking;
}

void ClientSession::drive_handshake(uint64_t now) {
  switch (dtls_->handshake(now)) {
    case tls::DtlsSession::Hs::in_progress: break;
    case tls::DtlsSession::Hs::done: on_handshake_done(now); break;
    case tls::DtlsSession::Hs::failed: {
      std::string why = dtls_->last_error();
      finish(why == "handshake timeout" ? CloseReason::handshake_timeout : CloseReason::handshake_failed, why);
      break;
    }
  }
}

void ClientSession::on_handshake_done(uint64_t now) {
  state_ = State::waiting_settings;
  stats_.last_handshake_ms = now;
  stats_.last_rx_ms = now;
  hello_backoff_ms_ = std::max<uint32_t>(params_.hello_retry_ms, 1);
  send_client_hello(now);
}

void ClientSession::send_client_hello(uint64_t now) {
  ClientHello h;
  h.software_version = software_version_;
  h.want_ipv4 = params_.want_ipv4;
  h.want_ipv6 = params_.want_ipv6;
  h.rekey_of = rekey_of_;
  uint8_t buf[128];
  auto n = encode_client_hello(h, buf);
  if (n) write_record({buf, *n}, now);
  // CLIENT_HELLO travels unreliably: resend with backoff until SETTINGS arrive.
  hello_retry_at_ = now + hello_backoff_ms_;
  hello_backoff_ms_ = std::min(hello_backoff_ms_ * 2, kMaxHelloBackoffMs);
}

bool ClientSession::write_record(std::span<const uint8_t> rec, uint64_t now) {
  if (auto r = dtls_->write(rec, now); !r) {
    ++stats_.drop_send_error;
    return false;
  }
  stats_.last_tx_ms = now;
  return true;
}

void ClientSession::on_datagram(std::span<const uint8_t> p, uint64_t now) {
  retired_.reset();
  next_retired_.reset();
  old_retired_.reset();
  now_ = now;
  if (state_ == State::idle || state_ == State::closed) return;
  OuterHeader h;
  if (decode_outer_header(p, &h) != HeaderStatus::ok) {
    ++stats_.drop_bad_header;
    return;
  }
  if (h.session_id != session_id_) {
    if (next_ && h.session_id == next_->session_id_) {
      next_->on_datagram(p, now);   // the rekey attempt's handshake and first records
    } else if (old_dtls_ && h.session_id == old_id_ && h.kind == Kind::dtls) {
      old_ingress(p, now);          // the replaced keys, in their grace
    } else {
      ++stats_.drop_bad_header;
    }
    return;
  }
  if (h.kind == Kind::unknown_session) {
    // The server lost our session (restart): reconnect now rather than after dead_peer_secs.
    // During the handshake the server must know us, so a hint then is stale or forged.
    if (state_ == State::established) {
      finish(CloseReason::dead_peer, "the server does not know this session (restarted?)");
    } else {
      ++stats_.drop_unexpected;
    }
    return;
  }
  const uint64_t gen = gen_;
  bool handshake_datagram = false;
  dtls_->feed(p.subspan(kOuterHeaderSize), now);
  if (state_ == State::handshaking) {
    drive_handshake(now);
    // The datagram that completes the handshake carries no application record.
    if (gen != gen_ || state_ != State::waiting_settings) return;
    handshake_datagram = true;
  }
  bool any = false;
  for (int i = 0; i < kMaxRecordsPerDatagram; ++i) {
    auto r = dtls_->read(rx_.data(), rx_.size(), now);
    if (!r) {
      // close_notify without a CLOSE first is an orderly end; anything else is a TLS failure.
      bool orderly = r.error().code == Errc::closed;
      finish(orderly ? CloseReason::shutdown : CloseReason::protocol_error,
             "DTLS: " + r.error().message);
      return;
    }
    if (*r == 0) break;
    any = true;
    stats_.last_rx_ms = now;
    handle_record({rx_.data(), *r}, now);
    if (gen != gen_ || state_ == State::closed) return;
  }
  if (!any && !handshake_datagram) ++stats_.drop_no_record;
}

void ClientSession::on_datagram_in_place(std::span<uint8_t> p, uint64_t now) {
  now_ = now;
  OuterHeader h;
  tls::RecordCursor cursor;
  if ((state_ == State::waiting_settings || state_ == State::established) &&
      decode_outer_header(p, &h) == HeaderStatus::ok && h.kind == Kind::dtls && h.session_id == session_id_ &&
      dtls_->open_begin(p.subspan(kOuterHeaderSize), &cursor) == tls::DatagramPath::fast) {
    retired_.reset();
    next_retired_.reset();
    old_retired_.reset();
    const uint64_t gen = gen_;
    bool any = false;
    std::span<uint8_t> plain;
    for (int i = 0; i < kMaxRecordsPerDatagram && dtls_->open_next(cursor, &plain); ++i) {
      any = true;
      stats_.last_rx_ms = now;
      handle_record(plain, now);
      if (gen != gen_ || state_ == State::closed) return;
    }
    if (!any) ++stats_.drop_no_record;
    return;
  }
  on_datagram(std::span<const uint8_t>(p), now);   // handshake, alerts, foreign ids: as before
}

void ClientSession::handle_record(std::span<const uint8_t> rec, uint64_t now) {
  switch (classify_inner(rec)) {
    case InnerKind::ipv4:
    case InnerKind::ipv6:
      // A rekey attempt delivers before its SETTINGS: the server moved the peer's traffic to it
      // when it authorized it, and the records are authentic.
      if (state_ != State::established && !(rekey_of_ && state_ == State::waiting_settings)) {
        ++stats_.drop_not_established;
        return;
      }
      ++stats_.packets_in;
      stats_.bytes_in += rec.size();
      cb_.deliver_packet(rec);
      return;
    case InnerKind::control: handle_control(rec, now); return;
    case InnerKind::unknown:
    case InnerKind::empty: ++stats_.drop_unknown_type; return;
  }
}

void ClientSession::handle_control(std::span<const uint8_t> rec, uint64_t now) {
  switch (MsgType(rec[0])) {
    case MsgType::settings: handle_settings(rec, now); return;
    case MsgType::pong: {
      auto m = decode_ping(rec);
      if (!m) {
        ++stats_.drop_malformed;
        return;
      }
      // Only a PONG for a PING we sent gives a sample; the echoed timestamp is ours.
      if (m->seq == 0 || m->seq > ping_seq_ || m->timestamp_ms > now) {
        ++stats_.drop_unexpected;
        return;
      }
      ++stats_.pongs_received;
      uint64_t rtt = (now - m->timestamp_ms) * 1000;
      stats_.rtt_us_last = rtt;
      stats_.rtt_us_smoothed = stats_.rtt_us_smoothed ? (7 * stats_.rtt_us_smoothed + rtt) / 8 : rtt;
      return;
    }
    case MsgType::ping: {  // the server pings to check our new address after a roam (protocol.md §6)
      auto m = decode_ping(rec);
      if (!m) {
        ++stats_.drop_malformed;
        return;
      }
      uint8_t buf[kPingSize];
      write_record({buf, encode_pong(*m, buf)}, now);
      return;
    }
    case MsgType::close: {
      auto m = decode_close(rec);
      if (!m) {
        ++stats_.drop_malformed;
        return;
      }
      finish(m->reason, m->text);
      return;
    }
    case MsgType::client_hello: ++stats_.drop_unexpected; return;
  }
  ++stats_.drop_unknown_type;  // a type this version does not know: dropped, counted
}

void ClientSession::handle_settings(std::span<const uint8_t> rec, uint64_t now) {
  if (state_ != State::waiting_settings) {  // a resend answering a late CLIENT_HELLO copy
    ++stats_.drop_unexpected;
    return;
  }
  switch (assembler_.add(rec)) {
    case SettingsAssembler::Status::bad: ++stats_.drop_malformed; return;
    case SettingsAssembler::Status::incomplete: return;
    case SettingsAssembler::Status::complete: break;
  }
  uint64_t echo = 0;
  int64_t server_time = 0;
  auto s = assembler_.result(&echo, &server_time);
  if (!s) {
    abort_session(CloseReason::protocol_error, s.error().message, now);
    return;
  }
  if (echo != session_id_) {
    abort_session(CloseReason::protocol_error, "SETTINGS: session id echo does not match", now);
    return;
  }
  if (!s->ipv4 && !s->ipv6) {
    abort_session(CloseReason::no_address, "SETTINGS without a tunnel address", now);
    return;
  }
  settings_ = std::move(*s);
  server_time_ = server_time;
  settings_at_ms_ = now;
  state_ = State::established;
  hello_retry_at_ = UINT64_MAX;
  stats_.established_at_ms = now;
  last_ping_ms_ = now;
  rekey_.keys_made(now, stats_.packets_in + stats_.packets_out, stats_.bytes_in + stats_.bytes_out);
  cb_.on_established(settings_);
}

bool ClientSession::send_packet(std::span<const uint8_t> ip, uint64_t now) {
  retired_.reset();
  now_ = now;
  if (state_ != State::established) {
    ++stats_.drop_not_established;
    return false;
  }
  if (ip.size() > dtls_->max_plaintext()) {
    ++stats_.drop_too_big;
    return false;
  }
  if (!write_record(ip, now)) return false;
  ++stats_.packets_out;
  stats_.bytes_out += ip.size();
  return true;
}

bool ClientSession::send_packet_in_place(std::span<uint8_t> ip, size_t head, size_t tail, uint64_t now) {
  if (state_ != State::established || !dtls_->fast_path_ready() ||
      head < kOuterHeaderSize + dtls_->seal_headroom() || tail < dtls_->seal_tailroom())
    return send_packet(ip, now);
  retired_.reset();
  if (ip.size() > dtls_->max_plaintext()) {
    ++stats_.drop_too_big;
    return false;
  }
  tls::PendingSeal seal;
  auto rec = dtls_->seal_later(ip.data(), ip.size(), &seal);
  if (!rec) {
    ++stats_.drop_send_error;
    return false;
  }
  uint8_t* start = rec->data() - kOuterHeaderSize;
  encode_outer_header(start, session_id_);
  seal.record_off = kOuterHeaderSize;
  stats_.last_tx_ms = now;
  ++stats_.packets_out;
  stats_.bytes_out += ip.size();
  cb_.send_datagram_sealing({start, kOuterHeaderSize + rec->size()}, std::move(seal));
  return true;
}

void ClientSession::close(CloseReason reason, uint64_t now) {
  retired_.reset();
  now_ = now;
  abort_session(reason, "", now);
}

void ClientSession::abort_session(CloseReason reason, const std::string& detail, uint64_t now) {
  if (state_ == State::idle || state_ == State::closed) return;
  drop_rekey_state(now, true);
  if (dtls_->established()) {
    uint8_t buf[1 + 1 + kMaxCloseText];
    if (auto n = encode_close(reason, detail, buf); n) write_record({buf, *n}, now);
    dtls_->close_notify(now);
  }
  finish(reason, detail);
}

void ClientSession::finish(CloseReason reason, const std::string& detail) {
  if (state_ == State::closed) return;
  ++gen_;
  state_ = State::closed;
  close_reason_ = reason;
  drop_rekey_state(now_, false);
  hello_retry_at_ = UINT64_MAX;
  cb_.on_closed(reason, detail);
}

void ClientSession::send_ping(uint64_t now) {
  Ping p{++ping_seq_, now};
  uint8_t buf[kPingSize];
  if (write_record({buf, encode_ping(p, buf)}, now)) ++stats_.pings_sent;
  last_ping_ms_ = now;
}

// PING when either direction has been idle for keepalive_secs, at most once per interval: tx
// idleness keeps NAT mappings and the server's dead-peer timer fresh; rx idleness probes a server
// that may have gone (the PONG then refreshes last_rx).
uint64_t ClientSession::next_ping_at() const {
  if (state_ != State::established || settings_.keepalive_secs == 0) return UINT64_MAX;
  uint64_t ka = uint64_t(settings_.keepalive_secs) * 1000;
  return std::max(std::min(stats_.last_tx_ms, stats_.last_rx_ms), last_ping_ms_) + ka;
}

uint64_t ClientSession::dead_at() const {
  if (state_ != State::established || settings_.dead_peer_secs == 0) return UINT64_MAX;
  return stats_.last_rx_ms + uint64_t(settings_.dead_peer_secs) * 1000;
}

uint64_t ClientSession::next_deadline() const {
  if (state_ == State::idle || state_ == State::closed) return UINT64_MAX;
  uint64_t d = dtls_->next_timeout();
  if (state_ != State::established) {
    d = std::min(d, started_ms_ + params_.handshake_timeout_ms);
    d = std::min(d, hello_retry_at_);
  } else {
    d = std::min({d, next_ping_at(), dead_at(), rekey_deadline()});
  }
  return d;
}

void ClientSession::on_timer(uint64_t now) {
  retired_.reset();
  next_retired_.reset();
  old_retired_.reset();
  now_ = now;
  if (state_ == State::idle || state_ == State::closed) return;
  const uint64_t gen = gen_;
  if (state_ != State::established && now >= started_ms_ + params_.handshake_timeout_ms) {
    finish(CloseReason::handshake_timeout,
           state_ == State::handshaking ? "no DTLS handshake with the server" : "no SETTINGS from the server");
    return;
  }
  if (now >= dtls_->next_timeout()) {
    dtls_->on_timeout(now);
    if (state_ == State::handshaking) drive_handshake(now);
    if (gen != gen_) return;
  }
  if (state_ == State::waiting_settings && now >= hello_retry_at_) send_client_hello(now);
  if (state_ != State::established) return;
  if (now >= dead_at()) {
    abort_session(CloseReason::dead_peer,
                  "no packets from the server for " + std::to_string(settings_.dead_peer_secs) + " s", now);
    return;
  }
  if (now >= next_ping_at()) send_ping(now);
  rekey_timers(now);
}

void ClientSession::on_path_changed(uint64_t now) {
  if (state_ == State::established) send_ping(now);
}

size_t ClientSession::max_packet() const {
  return dtls_ && dtls_->established() ? dtls_->max_plaintext() : 0;
}

size_t ClientSession::record_overhead() const {
  return dtls_ && dtls_->established() ? dtls_->record_overhead() : 0;
}

std::string ClientSession::ciphersuite() const { return dtls_ ? dtls_->ciphersuite() : std::string(); }

}  // namespace ptun::proto
