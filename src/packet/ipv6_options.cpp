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

bool tcp_options_well_formed(std::span<const uint8_t> pkt, const Parsed& p) {
  if (p.l4_proto != kProtoTcp || !p.has_l4) return true;
  size_t start = p.l3_header_len;
  if (start + 13 > pkt.size()) return false;
  size_t end = start + size_t(pkt[start + 12] >> 4) * 4;   // data offset
  if (end > pkt.size() || end > p.total_len) return false;
  size_t i = start + 20;
  while (i < end) {
    uint8_t kind = pkt[i];
    if (kind == 0) return true;   // end of option list
    if (kind == 1) {              // no-operation
      ++i;
      continue;
    }
    if (i + 2 > end || pkt[i + 1] < 2 || i + pkt[i + 1] > end) return false;
    i += pkt[i + 1];
  }
  return true;
}

}  // namespace ptun::packet
