// DTLS anti-replay window (RFC 6347 4.1.2.6) over 48-bit record sequence numbers of one epoch.
//
// The representation is mbedTLS's own (ssl->in_window_top, ssl->in_window): bit n of `bits` is set
// iff sequence number top - n has been seen; the initial state {0, 0} has seen nothing. ptun's
// fast path and mbedTLS share one window per session (DtlsSession loads it from the mbedTLS
// context, checks/updates it, and stores it back), so the two must agree bit for bit: do not
// "improve" the semantics here without mbedTLS.
//
// check() before authenticating a record, update() only after its tag verified: a forged record
// must not move the window.
#pragma once
#include <cstdint>

namespace ptun::tls {

class ReplayWindow {
 public:
  static constexpr uint64_t kMaxSeq = (uint64_t{1} << 48) - 1;  // 6-byte sequence number
  static constexpr uint64_t kSize = 64;                          // RFC 6347: at least 32

  ReplayWindow() = default;
  ReplayWindow(uint64_t top, uint64_t bits) : top_(top), bits_(bits) {}

  // True if `seq` may be accepted: newer than the right edge, or inside the window and unseen.
  // Older than the window (top - seq >= 64), already seen, or beyond 48 bits: false.
  bool check(uint64_t seq) const {
    if (seq > kMaxSeq) return false;
    if (seq > top_) return true;
    uint64_t bit = top_ - seq;
    if (bit >= kSize) return false;
    return (bits_ & (uint64_t{1} << bit)) == 0;
  }

  // Marks `seq` seen, sliding the window when it is the new right edge. Call after check() and
  // after the record authenticated.
  void update(uint64_t seq) {
    if (seq > kMaxSeq) return;
    if (seq > top_) {
      uint64_t shift = seq - top_;
      bits_ = shift >= kSize ? 1 : (bits_ << shift) | 1;
      top_ = seq;
    } else if (top_ - seq < kSize) {
      bits_ |= uint64_t{1} << (top_ - seq);
    }
  }

  uint64_t top() const { return top_; }
  uint64_t bits() const { return bits_; }

 private:
  uint64_t top_ = 0;
  uint64_t bits_ = 0;
};

}  // namespace ptun::tls
