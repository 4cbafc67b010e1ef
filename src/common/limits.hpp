// Every bound ptun enforces, in one place (as WireGuard's messages.h limits enum).
#pragma once
#include <cstddef>
#include <cstdint>

namespace ptun::limits {

inline constexpr size_t kPacketBufSize = 2048;    // one pool buffer: headroom + largest datagram
inline constexpr size_t kHeadroom = 64;           // room to prepend outer headers in place
inline constexpr size_t kMaxTunMtu = 1500;
inline constexpr size_t kMinTunMtu = 1280;        // IPv6 minimum
inline constexpr size_t kMaxDatagram = kPacketBufSize - kHeadroom;
inline constexpr size_t kBatch = 64;              // packets per recvmmsg/sendmmsg/TUN drain
inline constexpr size_t kMaxConfigBytes = 1 << 20;
inline constexpr uint32_t kDefaultMaxSessions = 4096;
inline constexpr uint32_t kDefaultMaxHalfOpen = 256;

}  // namespace ptun::limits
