#include "packet/ipv6_options.hpp"

#include <algorithm>

namespace ptun::packet {

namespace {
bool tlvs_fit(std::span<const uint8_t> pkt, size_t from, size_t end) {
  size_t i = from;
  while (i < end) {
    if (pkt[i] == 0) {   // Pad1: a single byte
      ++i;
      continue;
    }
    if (i + 2 > end) return false;
    i += 2 + size_t(pkt[i + 1]);
    if (i > end) return false;
  }
  return true;
}
}  // namespace

bool ipv6_options_well_formed(std::span<const uint8_t> pkt, const Parsed& p) {
  if (p.family != Family::v6) return true;
  size_t len = std::min(pkt.size(), size_t(p.total_len));
  uint8_t nh = pkt[6];
  size_t off = 40;
  for (unsigned n = 0; n <= kMaxExtHeaders && off < p.l3_header_len; ++n) {
    if (off + 2 > len) return false;
    size_t hlen;
    switch (nh) {
      case 0: case 43: case 60: hlen = (size_t(pkt[off + 1]) + 1) * 8; break;
      case 44: hlen = 8; break;
      case 51: hlen = (size_t(pkt[off + 1]) + 2) * 4; break;
      default: return true;   // the L4 header (or a protocol ptun does not walk)
    }
    if (off + hlen > len) return false;
    if ((nh == 0 || nh == 60) && !tlvs_fit(pkt, off + 2, off + hlen)) return false;
    nh = pkt[off];
    off += hlen;
  }
  return true;
}

}  // namespace ptun::packet
