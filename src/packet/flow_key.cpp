#include "packet/flow_key.hpp"

#include <cstring>

namespace ptun::packet {

FlowKey flow_key(const Parsed& p) {
  FlowKey k;
  k.src = p.src;
  k.dst = p.dst;
  k.proto = p.l4_proto;
  if (p.has_l4) {
    k.sport = p.sport;
    k.dport = p.dport;
  }
  return k;
}

FlowKey reversed(const FlowKey& k) {
  FlowKey r;
  r.src = k.dst;
  r.dst = k.src;
  r.sport = k.dport;
  r.dport = k.sport;
  r.proto = k.proto;
  return r;
}

namespace {
inline uint64_t word(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
// One multiply-xorshift round (as in wyhash/murmur finalisers): cheap and mixes well enough for
// open addressing. Not keyed: flow tables are bounded and evict, so collision floods only cost
// time on a bounded probe length.
inline uint64_t mix(uint64_t h, uint64_t v) {
  h = (h ^ v) * 0x9e3779b97f4a7c15ull;
  return h ^ (h >> 32);
}
}  // namespace

size_t FlowKeyHash::operator()(const FlowKey& k) const noexcept {
  // IpAddr keeps unused bytes zero, so hashing all 16 bytes is consistent with operator==.
  uint64_t h = uint64_t(k.src.family) | uint64_t(k.proto) << 8 | uint64_t(k.sport) << 16 |
               uint64_t(k.dport) << 32;
  h = mix(0x243f6a8885a308d3ull, h);
  h = mix(h, word(k.src.bytes.data()));
  h = mix(h, word(k.src.bytes.data() + 8));
  h = mix(h, word(k.dst.bytes.data()));
  h = mix(h, word(k.dst.bytes.data() + 8));
  return size_t(h);
}

}  // namespace ptun::packet
