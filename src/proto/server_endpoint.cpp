// ServerEndpoint: ingress routing, admission (cookie, limits) and timers. The per-session record
// handling is in server_session.cpp.
#include "proto/server_endpoint.hpp"

#include <algorithm>
#include <cstring>

#include "proto/server_session.hpp"
#include "proto/wire.hpp"

namespace ptun::proto {

namespace {
constexpr size_t kRecordBuf = 16384 + 512;
}  // namespace

const char* to_string(ServerSessionState s) {
  switch (s) {
    case ServerSessionState::handshaking: return "handshaking";
    case ServerSessionState::waiting_hello: return "waiting_hello";
    case ServerSessionState::established: return "established";
  }
  return "?";
}

ServerEndpoint::ServerEndpoint(std::shared_ptr<tls::DtlsConfig> config, Callbacks& cb, const Limits& limits)
    : config_(std::move(config)), cookies_(config_->cookie_guard()), cb_(cb), limits_(limits),
      rate_(limits.per_source_hs_per_sec, std::max<uint32_t>(limits.per_source_hs_per_sec, 1),
            limits.max_rate_sources),
      tx_(kOuterHeaderSize + kRecordBuf), rx_(kRecordBuf) {
  sessions_.reserve(std::min<uint32_t>(limits.max_sessions, 65536));
}

ServerEndpoint::~ServerEndpoint() = default;

void ServerEndpoint::reset() {
  // Member by member as the constructor leaves them (fresh containers: a cleared hash map keeps
  // its buckets, and with them another iteration order).
  half_open_.clear();
  sessions_ = decltype(sessions_)();
  sessions_.reserve(std::min<uint32_t>(limits_.max_sessions, 65536));
  graveyard_.clear();
  half_open_by_source_ = decltype(half_open_by_source_)();
  depth_ = 0;
  timers_.clear();
  due_.clear();
  rate_ = SourceRateLimiter(limits_.per_source_hs_per_sec, std::max<uint32_t>(limits_.per_source_hs_per_sec, 1),
                            limits_.max_rate_sources);
  counters_ = ServerCounters{};
  log_limit_ = log::RateLimit{};
  hint_window_ms_ = 0;
  hints_in_window_ = 0;
  path_challenges_ = 0;
  rtt_probes_ = 0;
  std::memset(tx_.data(), 0, tx_.size());  // std::fill is a byte loop under the fuzz instrumentation
  std::memset(rx_.data(), 0, rx_.size());
}

void ServerEndpoint::output_thunk(void* ctx, std::span<const uint8_t> datagram) {
  auto* s = static_cast<Session*>(ctx);
  s->owner->emit(*s, datagram);
}

void ServerEndpoint::emit(Session& s, std::span<const uint8_t> d) {
  if (d.size() > tx_.size() - kOuterHeaderSize) {
    ++s.stats.drop_send_error;
    return;
  }
  // One copy out of mbedTLS's buffer, behind room for the header written in place.
  std::memcpy(tx_.data() + kOuterHeaderSize, d.data(), d.size());
  encode_outer_header(tx_.data(), s.id);
  if (s.tx_on_path && s.path) {
    s.path->bytes_out += kOuterHeaderSize + d.size();
    cb_.send_datagram(s.path->addr, {tx_.data(), kOuterHeaderSize + d.size()});
    return;
  }
  cb_.send_datagram(s.peer, {tx_.data(), kOuterHeaderSize + d.size()});
}

void ServerEndpoint::on_datagram(const Endpoint& from, std::span<const uint8_t> p, uint64_t now) {
  ingress(from, p, false, now);
}

void ServerEndpoint::on_datagram_in_place(const Endpoint& from, std::span<uint8_t> p, uint64_t now) {
  ingress(from, p, true, now);
}

void ServerEndpoint::ingress(const Endpoint& from, std::span<const uint8_t> p, bool writable, uint64_t now) {
  Depth depth(*this);
  ++counters_.datagrams_in;
  OuterHeader h;
  switch (decode_outer_header(p, &h)) {
    case HeaderStatus::ok: break;
    case HeaderStatus::too_short:
    case HeaderStatus::zero_session: ++counters_.bad_header; return;
    case HeaderStatus::unknown_version: ++counters_.unknown_version; return;
    case HeaderStatus::unknown_kind: ++counters_.unknown_kind; return;
  }
  if (h.kind != Kind::dtls) {
    ++counters_.unknown_kind;
    return;
  }
  std::span<const uint8_t> dtls = p.subspan(kOuterHeaderSize);
  auto it = sessions_.find(h.session_id);
  if (it == sessions_.end()) {
    if (!looks_like_client_hello(dtls)) {
      ++counters_.unknown_session;
      hint_unknown_session(from, h.session_id, now);
      return;
    }
    admit(from, h.session_id, dtls, now);
    return;
  }
  Session& s = *it->second;
  if (s.peer != from) {
    // Another client picked the same id, or someone replays a ClientHello: never hijack.
    if (looks_like_client_hello(dtls)) {
      ++counters_.session_collision;
      return;
    }
    // Roaming is only for established sessions: a half-open one has nothing to authenticate with.
    if (s.state != ServerSessionState::established) {
      ++counters_.roam_refused;
      return;
    }
  } else if (looks_like_client_hello(dtls) && s.state != ServerSessionState::handshaking) {
    // A new handshake on a live association would make mbedTLS drop it (client port reuse):
    // the client starts new sessions with new ids, so this is a replay.
    ++counters_.session_collision;
    return;
  }
  session_ingress(s, dtls, from, writable, now);
}

void ServerEndpoint::hint_unknown_session(const Endpoint& from, uint64_t id, uint64_t now) {
  // Global budget per second: the hint (8 bytes) is smaller than what caused it, but a flood of
  // spoofed datagrams must not turn the server into a packet reflector either.
  if (now - hint_window_ms_ >= 1000) {
    hint_window_ms_ = now;
    hints_in_window_ = 0;
  }
  if (hints_in_window_ >= limits_.unknown_session_hints_per_sec) return;
  ++hints_in_window_;
  ++counters_.unknown_session_hints;
  uint8_t hint[kOuterHeaderSize];
  encode_outer_header(hint, id, Kind::unknown_session);
  cb_.send_datagram(from, {hint, sizeof hint});
}

std::unique_ptr<ServerEndpoint::Session> ServerEndpoint::new_session(const Endpoint& from, uint64_t id,
                                                                     uint64_t now) {
  auto s = std::make_unique<Session>();
  s->owner = this;
  s->id = id;
  s->peer = from;
  s->created_ms = now;
  s->dtls = std::make_unique<tls::DtlsSession>(config_, &ServerEndpoint::output_thunk, s.get());
  return s;
}

bool ServerEndpoint::adopt_snapshot(const Endpoint& from, uint64_t id, const tls::DtlsSnapshot& snap, uint64_t now) {
  Depth depth(*this);
  if (id == 0 || sessions_.count(id) || sessions_.size() >= limits_.max_sessions ||
      half_open_.size() >= limits_.max_half_open)
    return false;
  auto owned = new_session(from, id, now);
  Session& s = *owned;
  uint8_t client_id[kMaxEndpointIdSize];
  if (!s.dtls->set_client_id({client_id, endpoint_id_bytes(from, client_id)}) || !s.dtls->restore(snap)) return false;
  sessions_.emplace(id, std::move(owned));
  half_open_started(s);
  ++counters_.sessions_created;
  // As step_handshake() leaves a session whose handshake is done.
  s.state = ServerSessionState::waiting_hello;
  s.peer_cn = s.dtls->peer_common_name();
  s.stats.last_handshake_ms = now;
  s.stats.last_rx_ms = now;
  schedule(s);
  return true;
}

void ServerEndpoint::admit(const Endpoint& from, uint64_t id, std::span<const uint8_t> dtls, uint64_t now) {
  uint8_t client_id[kMaxEndpointIdSize];
  size_t id_len = endpoint_id_bytes(from, client_id);
  // Stateless until the cookie proves the source address: the reply goes to `from` and is no
  // larger than the request (CookieGuard guarantees it; checked again here).
  size_t reply_len = 0;
  auto verdict = cookies_->check(dtls, {client_id, id_len}, tx_.data() + kOuterHeaderSize,
                                 tx_.size() - kOuterHeaderSize, &reply_len);
  switch (verdict) {
    case tls::CookieGuard::Verdict::not_client_hello: ++counters_.not_client_hello; return;
    case tls::CookieGuard::Verdict::malformed: ++counters_.malformed_hello; return;
    case tls::CookieGuard::Verdict::no_or_bad_cookie:
      if (reply_len == 0 || reply_len > dtls.size()) {
        ++counters_.cookie_reply_dropped;
        return;
      }
      encode_outer_header(tx_.data(), id);
      ++counters_.cookie_sent;
      cb_.send_datagram(from, {tx_.data(), kOuterHeaderSize + reply_len});
      return;
    case tls::CookieGuard::Verdict::ok: break;
  }
  if (sessions_.size() >= limits_.max_sessions && half_open_.empty()) {
    ++counters_.session_limit;
    return;
  }
  if (limits_.max_half_open_per_source) {
    auto it = half_open_by_source_.find(source_key(from.addr));
    if (it != half_open_by_source_.end() && it->second >= limits_.max_half_open_per_source) {
      ++counters_.half_open_source_limit;
      return;
    }
  }
  if (!rate_.allow(from.addr, now)) {
    ++counters_.rate_limited;
    return;
  }
  // Full: make room by dropping the oldest half-open session (most likely one that will never
  // finish), so a flood of half-open sessions cannot lock every new client out.
  if (sessions_.size() >= limits_.max_sessions || half_open_.size() >= limits_.max_half_open) {
    if (!evict_oldest_half_open(now)) {
      ++(sessions_.size() >= limits_.max_sessions ? counters_.session_limit : counters_.half_open_limit);
      return;
    }
  }
  auto owned = new_session(from, id, now);
  Session& s = *owned;
  if (auto r = s.dtls->set_client_id({client_id, id_len}); !r) {
    ++counters_.handshake_failed;
    return;
  }
  sessions_.emplace(id, std::move(owned));
  half_open_started(s);
  ++counters_.sessions_created;
  session_ingress(s, dtls, from, false, now);   // a ClientHello: the slow path
}

void ServerEndpoint::half_open_started(Session& s) {
  s.half_open_pos = half_open_.insert(half_open_.end(), &s);
  ++half_open_by_source_[source_key(s.peer.addr)];
}

// A half-open session never roams (on_datagram refuses it), so s.peer is still its source.
void ServerEndpoint::half_open_ended(Session& s) {
  half_open_.erase(s.half_open_pos);
  auto it = half_open_by_source_.find(source_key(s.peer.addr));
  if (it != half_open_by_source_.end() && --it->second == 0) half_open_by_source_.erase(it);
}

bool ServerEndpoint::evict_oldest_half_open(uint64_t now) {
  if (half_open_.empty()) return false;
  Session& oldest = *half_open_.front();
  if (now < oldest.created_ms + limits_.half_open_evict_age_ms) return false;
  ++counters_.half_open_evicted;
  end_session(oldest, CloseReason::handshake_timeout, false, "", now);
  return true;
}

uint64_t ServerEndpoint::session_deadline(const Session& s) const {
  uint64_t d = s.dtls->next_timeout();
  if (s.state != ServerSessionState::established)
    d = std::min(d, s.created_ms + limits_.handshake_timeout_ms);
  else
    d = std::min(d, s.rtt_probe_ms);
  if (s.state == ServerSessionState::established && s.dead_ms) d = std::min(d, s.stats.last_rx_ms + s.dead_ms);
  return d;
}

// Only an earlier deadline pushes an entry; see deadline_heap.hpp.
void ServerEndpoint::schedule(Session& s) {
  if (s.closed) return;
  uint64_t d = session_deadline(s);
  if (d < s.armed_at) {
    s.armed_at = d;
    timers_.push(d, s.id);
  }
}

void ServerEndpoint::on_timer(uint64_t now) {
  Depth depth(*this);
  // Collect first: a session re-armed at a time <= now must wait for the next call, not loop.
  due_.clear();
  DeadlineHeap::Entry e;
  while (timers_.pop_due(now, &e)) due_.push_back(e);
  for (const auto& entry : due_) {
    auto it = sessions_.find(entry.key);
    if (it == sessions_.end() || it->second->armed_at != entry.deadline) continue;  // stale
    Session& s = *it->second;
    s.armed_at = UINT64_MAX;
    session_timer(s, now);
    schedule(s);
  }
  // Stale entries accumulate only when deadlines move earlier; compact when they dominate.
  if (timers_.size() > 2 * sessions_.size() + 1024) {
    timers_.compact([this](const DeadlineHeap::Entry& x) {
      auto it = sessions_.find(x.key);
      return it != sessions_.end() && it->second->armed_at == x.deadline;
    });
  }
}

void ServerEndpoint::session_timer(Session& s, uint64_t now) {
  if (s.state != ServerSessionState::established && now >= s.created_ms + limits_.handshake_timeout_ms) {
    ++counters_.handshake_timeout;
    end_session(s, CloseReason::handshake_timeout, true, "", now);
    return;
  }
  if (now >= s.dtls->next_timeout()) {
    s.dtls->on_timeout(now);
    if (s.state == ServerSessionState::handshaking) step_handshake(s, now);
    if (s.closed) return;
  }
  if (s.state == ServerSessionState::established && s.dead_ms && now >= s.stats.last_rx_ms + s.dead_ms) {
    end_session(s, CloseReason::dead_peer, true, "no packets from the client", now);
    return;
  }
  if (s.state == ServerSessionState::established && now >= s.rtt_probe_ms) probe_rtt(s, now);
}

void ServerEndpoint::reap() { graveyard_.clear(); }

bool ServerEndpoint::send_packet(uint64_t session_id, std::span<const uint8_t> ip, uint64_t now) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return false;
  Session& s = *it->second;
  if (s.state != ServerSessionState::established) {
    ++s.stats.drop_not_established;
    return false;
  }
  if (ip.size() > s.dtls->max_plaintext()) {
    ++s.stats.drop_too_big;
    return false;
  }
  if (!write_record(s, ip, now)) return false;
  ++s.stats.packets_out;
  s.stats.bytes_out += ip.size();
  return true;
}

bool ServerEndpoint::send_packet_in_place(uint64_t session_id, std::span<uint8_t> ip, size_t head, size_t tail,
                                          uint64_t now) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return false;
  Session& s = *it->second;
  if (s.state != ServerSessionState::established || !s.dtls->fast_path_ready() ||
      head < kOuterHeaderSize + s.dtls->seal_headroom() || tail < s.dtls->seal_tailroom())
    return send_packet(session_id, ip, now);
  if (ip.size() > s.dtls->max_plaintext()) {
    ++s.stats.drop_too_big;
    return false;
  }
  tls::PendingSeal seal;
  auto rec = s.dtls->seal_later(ip.data(), ip.size(), &seal);
  if (!rec) {
    ++s.stats.drop_send_error;
    return false;
  }
  // Data goes to the validated address only (an unvalidated one gets PINGs, see write_on_path).
  uint8_t* start = rec->data() - kOuterHeaderSize;
  encode_outer_header(start, s.id);
  seal.record_off = kOuterHeaderSize;
  s.stats.last_tx_ms = now;
  ++s.stats.packets_out;
  s.stats.bytes_out += ip.size();
  cb_.send_datagram_sealing(s.peer, {start, kOuterHeaderSize + rec->size()}, std::move(seal));
  return true;
}

bool ServerEndpoint::close_session(uint64_t session_id, CloseReason reason, uint64_t now, const std::string& text) {
  Depth depth(*this);
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return false;
  end_session(*it->second, reason, true, text, now);
  return true;
}

void ServerEndpoint::close_all(CloseReason reason, uint64_t now) {
  Depth depth(*this);
  std::vector<uint64_t> ids;
  ids.reserve(sessions_.size());
  for (const auto& [id, s] : sessions_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = sessions_.find(id);
    if (it != sessions_.end()) end_session(*it->second, reason, true, "", now);
  }
  timers_.clear();
}

SessionInfo ServerEndpoint::info(const Session& s) const {
  SessionInfo i;
  i.id = s.id;
  i.peer_cn = s.peer_cn;
  i.peer_serial = s.peer_serial;
  i.peer_not_after = s.peer_not_after;
  i.created_ms = s.created_ms;
  i.peer_fingerprint = s.peer_fingerprint;
  i.endpoint = s.peer;
  i.state = s.state;
  i.stats = s.stats;
  i.ciphersuite = s.state == ServerSessionState::handshaking ? "" : s.dtls->ciphersuite();
  return i;
}

std::optional<SessionInfo> ServerEndpoint::session(uint64_t session_id) const {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return std::nullopt;
  return info(*it->second);
}

std::vector<SessionInfo> ServerEndpoint::sessions() const {
  std::vector<SessionInfo> out;
  out.reserve(sessions_.size());
  for (const auto& [id, s] : sessions_) out.push_back(info(*s));
  return out;
}

size_t ServerEndpoint::max_packet(uint64_t session_id) const {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end() || it->second->state != ServerSessionState::established) return 0;
  return it->second->dtls->max_plaintext();
}

}  // namespace ptun::proto
