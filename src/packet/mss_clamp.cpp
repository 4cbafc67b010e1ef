#include "packet/mss_clamp.hpp"

#include "packet/checksum.hpp"
#include "packet/wire.hpp"

namespace ptun::packet {
using namespace wire;

namespace {
constexpr uint8_t kOptEol = 0, kOptNop = 1, kOptMss = 2, kOptMssLen = 4;
}

bool clamp_mss(std::span<uint8_t> pkt, const Parsed& p, uint16_t max_mss) {
  if (!p.has_l4 || p.l4_proto != kProtoTcp || !(p.tcp_flags & TCP_SYN)) return false;
  // A first fragment still carries the whole TCP header (parse() insists); clamping it is fine
  // only with a checksum over the reassembled segment, which the incremental update preserves.
  uint8_t* tcp = pkt.data() + p.l3_header_len;
  if (size_t(p.l3_header_len) + kTcpHlen > pkt.size()) return false;
  size_t doff = size_t(load16(tcp + kTcpHdrlenFlags) >> 12) * 4;
  if (doff < kTcpHlen || p.l3_header_len + doff > pkt.size()) return false;

  for (size_t i = kTcpHlen; i < doff;) {
    uint8_t kind = tcp[i];
    if (kind == kOptEol) break;
    if (kind == kOptNop) {
      ++i;
      continue;
    }
    if (i + 2 > doff) break;
    size_t len = tcp[i + 1];
    if (len < 2 || i + len > doff) break;
    if (kind == kOptMss && len == kOptMssLen) {
      uint16_t mss = load16(tcp + i + 2);
      if (mss <= max_mss) return false;
      uint16_t csum = load16(tcp + kTcpCsum);
      // The checksum sums 16-bit words from the (even) start of the TCP header; a value at an
      // odd offset contributes its bytes swapped, so update with swapped values there.
      if ((i + 2) % 2 == 0)
        csum = checksum_update16(csum, mss, max_mss);
      else
        csum = checksum_update16(csum, __builtin_bswap16(mss), __builtin_bswap16(max_mss));
      store16(tcp + i + 2, max_mss);
      store16(tcp + kTcpCsum, csum);
      return true;
    }
    i += len;
  }
  return false;
}

uint16_t mss_for_mtu(Family family, uint16_t mtu) {
  uint16_t overhead = family == Family::v6 ? kIp6Hlen + kTcpHlen : kIp4Hlen + kTcpHlen;
  return mtu > overhead ? uint16_t(mtu - overhead) : 0;
}

}  // namespace ptun::packet
