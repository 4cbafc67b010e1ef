#include "packet/checksum.hpp"

#include <bit>

#include "packet/wire.hpp"

namespace ptun::packet {
using namespace wire;

uint32_t checksum_partial(std::span<const uint8_t> data, uint32_t sum) {
  // Sum native-order 32-bit words into 64 bits (no carry handling inside the loop), then fold
  // and swap once on little-endian hosts: the ones' complement sum is independent of byte order
  // (RFC 1071 2.B).
  const uint8_t* p = data.data();
  size_t n = data.size();
  uint64_t acc = 0;
  for (; n >= 16; p += 16, n -= 16) {
    uint32_t w[4];
    std::memcpy(w, p, 16);
    acc += uint64_t(w[0]) + w[1] + w[2] + w[3];
  }
  for (; n >= 4; p += 4, n -= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    acc += w;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
    p += 2;
    n -= 2;
  }
  // The odd final byte is the high byte of a big-endian word padded with zero.
  if (n) acc += std::endian::native == std::endian::little ? uint64_t(*p) : uint64_t(*p) << 8;
  acc = (acc & 0xffffffff) + (acc >> 32);
  acc = (acc & 0xffffffff) + (acc >> 32);
  uint32_t s = uint32_t(acc);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  // Fold the caller's sum first so that long chains cannot overflow 32 bits.
  sum = (sum & 0xffff) + (sum >> 16);
  // Native words summed on a little-endian host give the big-endian sum byte-swapped.
  if constexpr (std::endian::native == std::endian::little) s = __builtin_bswap16(uint16_t(s));
  return sum + s;
}

uint16_t checksum_fold(uint32_t sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

uint16_t checksum(std::span<const uint8_t> data, uint32_t initial) {
  return checksum_fold(checksum_partial(data, initial));
}

uint16_t checksum_update16(uint16_t old_csum, uint16_t old_val, uint16_t new_val) {
  uint32_t sum = uint32_t(uint16_t(~old_csum)) + uint16_t(~old_val) + new_val;
  return checksum_fold(sum);
}

uint16_t checksum_update32(uint16_t old_csum, uint32_t old_val, uint32_t new_val) {
  uint32_t sum = uint32_t(uint16_t(~old_csum)) + uint16_t(~(old_val >> 16)) +
                 uint16_t(~old_val) + (new_val >> 16) + (new_val & 0xffff);
  return checksum_fold(sum);
}

uint32_t pseudo_header_sum(const Parsed& p, uint8_t proto, uint32_t l4_len) {
  std::span<const uint8_t> src(p.src.bytes.data(), p.src.size());
  std::span<const uint8_t> dst(p.dst.bytes.data(), p.dst.size());
  uint32_t sum = checksum_partial(dst, checksum_partial(src, 0));
  // IPv4: zero, protocol, 16-bit length. IPv6: 32-bit length, 24 zero bits, next header.
  // Both sum to the same words when the length fits 16 bits; l4_len may exceed it in IPv6.
  return sum + proto + (l4_len >> 16) + (l4_len & 0xffff);
}

uint16_t l4_checksum(const Parsed& p, std::span<const uint8_t> pkt) {
  if (p.l3_header_len > p.total_len || p.total_len > pkt.size()) return 0xffff;
  auto seg = pkt.subspan(p.l3_header_len, p.l4_len());
  uint32_t sum = 0;
  if (p.l4_proto != kProtoIcmp || p.family == Family::v6)
    sum = pseudo_header_sum(p, p.l4_proto, uint32_t(seg.size()));
  return checksum(seg, sum);
}

namespace {
// Offset of the checksum field within the L4 header, or 0 if p has no checksummed header.
size_t l4_csum_field(const Parsed& p) {
  if (!p.has_l4 || p.is_fragment) return 0;
  switch (p.l4_proto) {
    case kProtoTcp: return kTcpCsum;
    case kProtoUdp: return kUdpCsum;
    case kProtoIcmp:
    case kProtoIcmp6: return kIcmpCsum;  // has_l4 implies the protocol matches the family
    default: return 0;
  }
}
}  // namespace

bool verify_l4_checksum(const Parsed& p, std::span<const uint8_t> pkt) {
  size_t field = l4_csum_field(p);
  if (field == 0 || p.total_len > pkt.size()) return false;
  if (p.l4_proto == kProtoUdp && p.family == Family::v4 &&
      load16(pkt.data() + p.l3_header_len + field) == 0)
    return true;
  return l4_checksum(p, pkt) == 0;
}

bool fill_l4_checksum(const Parsed& p, std::span<uint8_t> pkt) {
  size_t field = l4_csum_field(p);
  if (field == 0 || p.total_len > pkt.size()) return false;
  uint8_t* f = pkt.data() + p.l3_header_len + field;
  store16(f, 0);
  uint16_t c = l4_checksum(p, pkt);
  if (c == 0 && p.l4_proto == kProtoUdp) c = 0xffff;
  store16(f, c);
  return true;
}

bool verify_ipv4_header_checksum(std::span<const uint8_t> pkt) {
  if (pkt.size() < kIp4Hlen || (pkt[0] >> 4) != 4) return false;
  size_t ihl = size_t(pkt[0] & 0x0f) * 4;
  if (ihl < kIp4Hlen || ihl > pkt.size()) return false;
  return checksum(pkt.first(ihl)) == 0;
}

bool fill_ipv4_header_checksum(std::span<uint8_t> pkt) {
  if (pkt.size() < kIp4Hlen || (pkt[0] >> 4) != 4) return false;
  size_t ihl = size_t(pkt[0] & 0x0f) * 4;
  if (ihl < kIp4Hlen || ihl > pkt.size()) return false;
  store16(pkt.data() + kIp4Csum, 0);
  store16(pkt.data() + kIp4Csum, checksum(pkt.first(ihl)));
  return true;
}

}  // namespace ptun::packet
