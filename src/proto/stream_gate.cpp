#include "proto/stream_gate.hpp"

#include "proto/rate_limiter.hpp"

namespace ptun::proto {

StreamGate::Admit StreamGate::admit(const IpAddr& source) {
  if (open_ >= l_.max_connections) {
    ++c_.refused_total;
    return Admit::total_limit;
  }
  IpAddr key = source_key(source);
  auto it = per_source_.find(key);
  if (l_.max_per_source && it != per_source_.end() && it->second >= l_.max_per_source) {
    ++c_.refused_source;
    return Admit::source_limit;
  }
  ++per_source_[key];
  ++open_;
  ++c_.accepted;
  return Admit::ok;
}

void StreamGate::release(const IpAddr& source) {
  auto it = per_source_.find(source_key(source));
  if (it == per_source_.end()) return;  // never admitted: nothing to give back
  if (--it->second == 0) per_source_.erase(it);
  --open_;
  ++c_.closed;
}

void StreamClock::bytes_in(uint64_t now, bool mid_frame) {
  if (!mid_frame) frame_started_ms_ = UINT64_MAX;
  else if (frame_started_ms_ == UINT64_MAX) frame_started_ms_ = now;
}

uint64_t StreamClock::deadline() const {
  if (!established_) return opened_ms_ + l_.handshake_ms;
  return frame_started_ms_ == UINT64_MAX ? UINT64_MAX : frame_started_ms_ + l_.frame_ms;
}

StreamClock::Expiry StreamClock::expired(uint64_t now) const {
  if (now < deadline()) return Expiry::none;
  return established_ ? Expiry::frame : Expiry::handshake;
}

}  // namespace ptun::proto
