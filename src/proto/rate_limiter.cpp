#include "proto/rate_limiter.hpp"

#include <algorithm>

namespace ptun::proto {

SourceRateLimiter::SourceRateLimiter(uint32_t per_sec, uint32_t burst, size_t max_sources)
    : per_sec_(per_sec), cap_milli_(uint64_t(std::max<uint32_t>(burst, 1)) * 1000),
      max_sources_(std::max<size_t>(max_sources, 1)) {}

void SourceRateLimiter::refill(Bucket& b, uint64_t now_ms) const {
  if (now_ms <= b.updated_ms) return;
  uint64_t elapsed = now_ms - b.updated_ms;
  // per_sec tokens per 1000 ms = per_sec milli-tokens per ms; cap elapsed to avoid overflow.
  uint64_t add = std::min<uint64_t>(elapsed, 1000000) * per_sec_;
  b.milli_tokens = std::min(cap_milli_, b.milli_tokens + add);
  b.updated_ms = now_ms;
}

void SourceRateLimiter::sweep(uint64_t now_ms) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    refill(it->second, now_ms);
    if (it->second.milli_tokens >= cap_milli_)
      it = buckets_.erase(it);  // full again: indistinguishable from a new source
    else
      ++it;
  }
}

bool SourceRateLimiter::allow(const IpAddr& src, uint64_t now_ms) {
  if (per_sec_ == 0) return true;
  IpAddr key = source_key(src);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_sources_) {
      sweep(now_ms);
      if (buckets_.size() >= max_sources_) return false;
    }
    it = buckets_.emplace(key, Bucket{cap_milli_, now_ms}).first;
  }
  Bucket& b = it->second;
  refill(b, now_ms);
  if (b.milli_tokens < 1000) return false;
  b.milli_tokens -= 1000;
  return true;
}

}  // namespace ptun::proto
