// Rekeying, sans-I/O (docs/protocol.md §5, "Rekeying"): when a session's keys are due for
// replacement, and which old sessions the server still accepts during the switch.
//
//   client: keys made --(after_ms, or after_packets/after_bytes of inner traffic)--> due
//           due -> new session with CLIENT_HELLO rekey_of=<old id> -> SETTINGS equal -> switch:
//           the new keys transmit, the old ones are still accepted for grace_ms, then CLOSE(rekeyed)
//           failure (handshake, refusal, timeout) -> old keys keep working, retry after retry_ms
//   server: CLIENT_HELLO rekey_of = the peer's live session -> the new session takes the peer's
//           addresses and routes; the old one's packets count as the new one's (RekeyGrace) until it
//           closes or its grace ends
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ptun::proto {

struct RekeyParams {
  uint64_t after_ms = 3600 * 1000;  // 0: never by age
  // Inner traffic under one set of keys, both directions together; 0: no limit. The packet limit
  // stays far below AES-GCM's (RFC 8446 §5.5: 2^24.5 full-size records per key) and
  // ChaCha20-Poly1305's (2^64) limits.
  uint64_t after_packets = uint64_t(1) << 23;
  uint64_t after_bytes = 0;
  uint32_t retry_ms = 30 * 1000;   // after a failed attempt (the old keys keep working meanwhile)
  uint32_t grace_ms = 2000;        // old keys still accepted after the switch (reordering, in flight)
  bool enabled() const { return after_ms || after_packets || after_bytes; }
};

// When the current keys are due for replacement. Callers say what happened (keys_made,
// attempt_failed); `packets`/`bytes` are the session's running totals (both directions).
class RekeySchedule {
 public:
  explicit RekeySchedule(const RekeyParams& p = {}) : p_(p) {}
  void keys_made(uint64_t now, uint64_t packets, uint64_t bytes);
  // A rekey handshake failed or was refused: not again before now + retry_ms.
  void attempt_failed(uint64_t now);
  bool due(uint64_t now, uint64_t packets, uint64_t bytes) const { return now >= deadline(packets, bytes); }
  // When due() becomes true if the counts stay as they are; UINT64_MAX: never (rekeying off,
  // or no keys yet).
  uint64_t deadline(uint64_t packets, uint64_t bytes) const;
  uint64_t keys_made_at() const { return made_ms_; }

 private:
  RekeyParams p_;
  bool armed_ = false;
  uint64_t made_ms_ = 0, packets0_ = 0, bytes0_ = 0;
  uint64_t not_before_ = 0;
};

// Server side, on a CLIENT_HELLO: `rekey_of` (0: none) against the peer's live session (0: none).
//   adopt      the peer's live session: the new one takes over without a break, the old one is
//              still accepted for a grace period (RekeyGrace)
//   stale      names a session that is not the peer's live one (closed meanwhile, another peer's,
//              or a replay): treated as an ordinary new session, which replaces the live one
//   not_rekey  an ordinary new session
enum class RekeyVerdict : uint8_t { not_rekey, adopt, stale };
RekeyVerdict judge_rekey(uint64_t rekey_of, uint64_t peer_session, uint64_t new_session);

// Server side: old sessions replaced by a rekey, until they close. An old session's packets are
// the new one's (same peer, same addresses); at its grace end the caller closes it.
class RekeyGrace {
 public:
  void adopt(uint64_t old_id, uint64_t new_id, uint64_t until_ms);
  // The session that owns `id`'s traffic: the newest session of a rekey chain, or `id` itself.
  uint64_t resolve(uint64_t id) const;
  bool in_grace(uint64_t id) const;
  // A session closed (as an old or a new one): its entries go. Returns the old sessions that `id`
  // had replaced (their traffic has no owner any more: the caller closes them).
  std::vector<uint64_t> forget(uint64_t id);
  // Old sessions whose grace ended (removed from the table): the caller closes them.
  std::vector<uint64_t> take_due(uint64_t now);
  uint64_t next_deadline() const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    uint64_t old_id, new_id, until_ms;
  };
  std::vector<Entry> entries_;  // a handful at most (one per rekeying peer): a vector is enough
};

}  // namespace ptun::proto
