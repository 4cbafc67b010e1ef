// Big-endian packet access inside src/offload: src/packet's loads and stores, and the header
// offsets the segmenter and coalescer share. Internal to the module.
#pragma once
#include <cstddef>
#include <cstdint>

#include "packet/wire.hpp"

namespace ptun::offload::be {

// The loads and stores are src/packet's (one definition, checked on big-endian MIPS).
using packet::wire::load16;
using packet::wire::load32;
using packet::wire::store16;
using packet::wire::store32;

// Offsets used on both sides (RFC 791, 8200, 793, 768).
inline constexpr size_t kIp4TotLen = 2, kIp4Id = 4, kIp4Frag = 6, kIp4Ttl = 8, kIp4Csum = 10;
inline constexpr size_t kIp6Plen = 4, kIp6Hoplim = 7;
inline constexpr size_t kTcpSeq = 4, kTcpAck = 8, kTcpDoff = 12, kTcpFlags = 13, kTcpWin = 14,
                        kTcpCsum = 16;
inline constexpr size_t kUdpLen = 4, kUdpCsum = 6;
inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                         kTcpAckFlag = 0x10, kTcpUrg = 0x20, kTcpEce = 0x40, kTcpCwr = 0x80;

}  // namespace ptun::offload::be
