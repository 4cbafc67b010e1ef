#include "proto/rekey.hpp"

#include <algorithm>

namespace ptun::proto {

namespace {
// A rekey chain longer than this is a loop (or an attack on the table): resolve stops there.
constexpr int kMaxChain = 8;
}  // namespace

void RekeySchedule::keys_made(uint64_t now, uint64_t packets, uint64_t bytes) {
  armed_ = true;
  made_ms_ = now;
  packets0_ = packets;
  bytes0_ = bytes;
  not_before_ = now;
}

void RekeySchedule::attempt_failed(uint64_t now) { not_before_ = now + std::max<uint32_t>(p_.retry_ms, 1); }

uint64_t RekeySchedule::deadline(uint64_t packets, uint64_t bytes) const {
  if (!armed_ || !p_.enabled()) return UINT64_MAX;
  const bool count_reached = (p_.after_packets && packets - packets0_ >= p_.after_packets) ||
                             (p_.after_bytes && bytes - bytes0_ >= p_.after_bytes);
  uint64_t at = count_reached ? 0 : (p_.after_ms ? made_ms_ + p_.after_ms : UINT64_MAX);
  return at == UINT64_MAX ? at : std::max(at, not_before_);
}

RekeyVerdict judge_rekey(uint64_t rekey_of, uint64_t peer_session, uint64_t new_session) {
  if (rekey_of == 0) return RekeyVerdict::not_rekey;
  if (rekey_of == peer_session && rekey_of != new_session) return RekeyVerdict::adopt;
  return RekeyVerdict::stale;
}

void RekeyGrace::adopt(uint64_t old_id, uint64_t new_id, uint64_t until_ms) {
  if (old_id == new_id) return;
  for (auto& e : entries_)
    if (e.old_id == old_id) {
      e.new_id = new_id;
      e.until_ms = until_ms;
      return;
    }
  entries_.push_back({old_id, new_id, until_ms});
}

uint64_t RekeyGrace::resolve(uint64_t id) const {
  for (int hop = 0; hop < kMaxChain && !entries_.empty(); ++hop) {
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.old_id == id; });
    if (it == entries_.end()) break;
    id = it->new_id;
  }
  return id;
}

bool RekeyGrace::in_grace(uint64_t id) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.old_id == id; });
}

std::vector<uint64_t> RekeyGrace::forget(uint64_t id) {
  std::vector<uint64_t> orphans;
  for (const auto& e : entries_)
    if (e.new_id == id) orphans.push_back(e.old_id);
  std::erase_if(entries_, [&](const Entry& e) { return e.old_id == id || e.new_id == id; });
  return orphans;
}

std::vector<uint64_t> RekeyGrace::take_due(uint64_t now) {
  std::vector<uint64_t> due;
  for (const auto& e : entries_)
    if (now >= e.until_ms) due.push_back(e.old_id);
  std::erase_if(entries_, [&](const Entry& e) { return now >= e.until_ms; });
  return due;
}

uint64_t RekeyGrace::next_deadline() const {
  uint64_t d = UINT64_MAX;
  for (const auto& e : entries_) d = std::min(d, e.until_ms);
  return d;
}

}  // namespace ptun::proto
