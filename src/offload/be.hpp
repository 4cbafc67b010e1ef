// Big-endian loads and stores for packet bytes inside src/offload (byte by byte: any alignment,
// any host order). Internal to the module.
#pragma once
#include <cstdint>

namespace ptun::offload::be {

inline uint16_t load16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t load32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline void store16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline void store32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}

// Offsets used on both sides (RFC 791, 8200, 793, 768).
inline constexpr size_t kIp4TotLen = 2, kIp4Id = 4, kIp4Frag = 6, kIp4Ttl = 8, kIp4Csum = 10;
inline constexpr size_t kIp6Plen = 4, kIp6Hoplim = 7;
inline constexpr size_t kTcpSeq = 4, kTcpAck = 8, kTcpDoff = 12, kTcpFlags = 13, kTcpWin = 14,
                        kTcpCsum = 16;
inline constexpr size_t kUdpLen = 4, kUdpCsum = 6;
inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                         kTcpAckFlag = 0x10, kTcpUrg = 0x20, kTcpEce = 0x40, kTcpCwr = 0x80;

}  // namespace ptun::offload::be
