// The outer framing of every ptun UDP payload and the MTU arithmetic around it.
// docs/protocol.md is the normative description; this header is its executable form.
//
//   UDP payload = | ver<<4 | kind | session id (56 bits, big endian) | DTLS 1.2 records ... |
//                 |<----------------- 8 bytes ------------------->|
//
// The session id lets the server find a session when the client's address changes (it predates
// the DTLS connection id of mbedTLS 3.6, which ptun does not use). Pure functions, no allocation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/net_addr.hpp"
#include "common/rng.hpp"

namespace ptun::proto {

inline constexpr uint8_t kWireVersion = 1;
inline constexpr size_t kOuterHeaderSize = 8;
inline constexpr uint64_t kSessionIdMask = (uint64_t(1) << 56) - 1;

// kind 0: DTLS records follow. kind 1: "unknown session" hint, the 8-byte header alone, sent by
// a server (rate-limited, never larger than the datagram that caused it) for a datagram whose
// session id it does not know, e.g. after a restart: the client reconnects at once instead of
// waiting for dead-peer detection. Unauthenticated by design, so it only ever triggers what an
// on-path attacker could cause anyway by dropping packets (a reconnect).
enum class Kind : uint8_t { dtls = 0, unknown_session = 1 };

struct OuterHeader {
  uint8_t version = kWireVersion;
  Kind kind = Kind::dtls;
  uint64_t session_id = 0;  // 56 bits, never 0
};

enum class HeaderStatus : uint8_t {
  ok,
  too_short,        // fewer than 8 bytes, or nothing after a kind-0 header
  unknown_version,  // version != 1 (reserved for future versions: dropped and counted)
  unknown_kind,     // kind > 1 (reserved)
  zero_session,     // session id 0 is never valid
};
const char* to_string(HeaderStatus s);

// Decode the 8-byte header at the front of `udp_payload`. On ok, `*out` is filled and the DTLS
// part is udp_payload.subspan(kOuterHeaderSize) (at least one byte).
HeaderStatus decode_outer_header(std::span<const uint8_t> udp_payload, OuterHeader* out);

// Write the 8-byte header for `session_id` (masked to 56 bits) at out[0..8).
void encode_outer_header(uint8_t* out, uint64_t session_id, Kind kind = Kind::dtls);

// A fresh random session id: 56 bits, never 0.
uint64_t random_session_id(Rng& rng);

// What one decrypted DTLS application record carries: an IP packet as-is (first nibble 4 or 6),
// or a control message whose first byte has a zero high nibble.
enum class InnerKind : uint8_t { ipv4, ipv6, control, unknown, empty };
inline InnerKind classify_inner(std::span<const uint8_t> rec) {
  if (rec.empty()) return InnerKind::empty;
  switch (rec[0] >> 4) {
    case 4: return InnerKind::ipv4;
    case 6: return InnerKind::ipv6;
    case 0: return InnerKind::control;
    default: return InnerKind::unknown;
  }
}

// True if any DTLS record in `dtls` (the part after the outer header) is a plaintext record of
// epoch 0 carrying a ClientHello. A cheap routing test only; CookieGuard does the real validation.
bool looks_like_client_hello(std::span<const uint8_t> dtls);

// The transport id the server binds cookies to: family, address bytes, port (big endian).
// Writes at most kMaxEndpointIdSize bytes and returns the count.
inline constexpr size_t kMaxEndpointIdSize = 1 + 16 + 2;
size_t endpoint_id_bytes(const Endpoint& ep, uint8_t* out);

// ---- MTU arithmetic --------------------------------------------------------------------------
// DTLS 1.2 record overhead as mbedTLS produces it (DtlsSession::record_overhead() is the truth
// at run time): 13-byte record header + AEAD expansion.
inline constexpr size_t kDtlsRecordHeader = 13;
inline constexpr size_t kAesGcmRecordOverhead = kDtlsRecordHeader + 8 + 16;  // explicit nonce + tag = 37
inline constexpr size_t kChachaRecordOverhead = kDtlsRecordHeader + 16;      // tag only = 29
inline constexpr size_t kUdpHeaderSize = 8;
inline constexpr size_t kIpv4HeaderSize = 20;
inline constexpr size_t kIpv6HeaderSize = 40;

// Bytes added in front of (and behind) one inner IP packet on an underlay of `family`.
constexpr size_t tunnel_overhead(Family underlay_family, size_t record_overhead) {
  return (underlay_family == Family::v6 ? kIpv6HeaderSize : kIpv4HeaderSize) + kUdpHeaderSize +
         kOuterHeaderSize + record_overhead;
}

// The largest inner packet that fits one underlay packet of `underlay_mtu` bytes without IP
// fragmentation; 0 if nothing fits.
constexpr uint16_t tunnel_mtu(uint16_t underlay_mtu, Family underlay_family, size_t record_overhead) {
  size_t oh = tunnel_overhead(underlay_family, record_overhead);
  return underlay_mtu > oh ? uint16_t(underlay_mtu - oh) : 0;
}

// The DTLS datagram budget (DtlsOptions::mtu) for an underlay MTU: what remains for the DTLS
// records after the IP, UDP and outer headers.
constexpr uint16_t dtls_mtu(uint16_t underlay_mtu, Family underlay_family) {
  size_t oh = (underlay_family == Family::v6 ? kIpv6HeaderSize : kIpv4HeaderSize) + kUdpHeaderSize +
              kOuterHeaderSize;
  return underlay_mtu > oh ? uint16_t(underlay_mtu - oh) : 0;
}

static_assert(tunnel_mtu(1500, Family::v4, kAesGcmRecordOverhead) == 1427);
static_assert(tunnel_mtu(1500, Family::v6, kChachaRecordOverhead) == 1415);

}  // namespace ptun::proto
