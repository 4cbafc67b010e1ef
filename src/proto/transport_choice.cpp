#include "proto/transport_choice.hpp"

#include <algorithm>

namespace ptun::proto {

// As status shows them: DTLS over UDP, or (inside) TLS over TCP.
const char* to_string(Transport t) { return t == Transport::tcp ? "tls" : "dtls"; }

void TransportChoice::attempt_started(Transport t, uint64_t now) {
  t_ = t;
  started_ms_ = switched_ms_ = last_ping_ms_ = now;
  heard_ = fell_back_ = false;
  next_probe_ms_ = t == Transport::tcp ? now + probe_interval_ms() : UINT64_MAX;
}

void TransportChoice::heard(uint64_t) { heard_ = true; }

void TransportChoice::switched(Transport t, uint64_t now) {
  if (t == t_) return;
  if (t == Transport::tcp) {
    ++fallbacks_;
    // Back on TCP soon after a return: UDP lets probes through but not the traffic; probe less.
    if (returns_ && now - returned_ms_ < 4 * uint64_t(p_.fallback_ms))
      probe_ms_cur_ = std::min<uint32_t>(probe_interval_ms() * 2, p_.probe_ms * 16);
    next_probe_ms_ = now + probe_interval_ms();
  } else {
    ++returns_;
    returned_ms_ = now;
    next_probe_ms_ = UINT64_MAX;
  }
  t_ = t;
  switched_ms_ = last_ping_ms_ = now;
  fell_back_ = false;
}

uint64_t TransportChoice::quiet_since(const View& v) const {
  // Silence counts from the last authentic record or the switch to UDP, whichever is later.
  return std::max(v.last_rx_ms, switched_ms_);
}

uint64_t TransportChoice::deadline(const View& v) const {
  if (!p_.tcp_enabled || fell_back_) return UINT64_MAX;
  if (t_ == Transport::tcp) return v.established ? next_probe_ms_ : UINT64_MAX;
  if (!v.established) return heard_ ? UINT64_MAX : started_ms_ + p_.fallback_ms;
  uint64_t q = quiet_since(v);
  if (v.last_tx_ms <= q) return UINT64_MAX;  // nothing sent since: silence is not a symptom
  return std::min(q + p_.fallback_ms, std::max(q, last_ping_ms_) + p_.ping_ms);
}

TransportChoice::Action TransportChoice::next(uint64_t now, const View& v) {
  if (now < deadline(v)) return Action::none;
  if (t_ == Transport::tcp) {
    next_probe_ms_ = now + probe_interval_ms();
    return Action::probe_udp;
  }
  if (!v.established) {
    fell_back_ = true;
    return Action::fall_back;
  }
  if (now >= quiet_since(v) + p_.fallback_ms) {
    fell_back_ = true;
    return Action::fall_back;
  }
  last_ping_ms_ = now;
  return Action::ping;
}

}  // namespace ptun::proto
