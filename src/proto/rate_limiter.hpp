// Per-source token buckets for handshake admission (after the cookie proved the source address).
// IPv6 sources are keyed by their /64: one host usually owns a whole /64, so keying by /128
// would let it multiply its budget. The table is bounded: when full, idle buckets (refilled
// completely) are swept; if none is idle the new source is refused.
#pragma once
#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "common/net_addr.hpp"

namespace ptun::proto {

// The key a source is counted under: the IPv4 address, or the /64 of an IPv6 address.
inline IpAddr source_key(const IpAddr& src) {
  IpAddr key = src;
  if (key.is_v6()) std::fill(key.bytes.begin() + 8, key.bytes.end(), 0);
  return key;
}

class SourceRateLimiter {
 public:
  // per_sec == 0 disables limiting. burst: tokens a fresh source starts with (at least 1).
  SourceRateLimiter(uint32_t per_sec, uint32_t burst, size_t max_sources);
  // Takes one token from `src`'s bucket; false if empty (or the table is full of busy sources).
  bool allow(const IpAddr& src, uint64_t now_ms);
  size_t size() const { return buckets_.size(); }

 private:
  struct Bucket {
    uint64_t milli_tokens;  // tokens * 1000, so refill is exact in integer arithmetic
    uint64_t updated_ms;
  };
  void refill(Bucket& b, uint64_t now_ms) const;
  void sweep(uint64_t now_ms);

  uint32_t per_sec_;
  uint64_t cap_milli_;
  size_t max_sources_;
  std::unordered_map<IpAddr, Bucket, IpAddrHash> buckets_;
};

}  // namespace ptun::proto
