// Unaligned big-endian loads and stores for packet bytes, plus the lwIP protocol header layouts
// this module builds on. Internal to src/packet (not part of the public API).
//
// lwIP's `lwip/prot/*.h` structs are packed and hold fields in network order; we use them for
// their layouts (sizeof/offsetof) and constants, and read the fields through memcpy so that any
// alignment of the input buffer is fine under UBSan and no strict-aliasing rule is bent.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

// Before lwIP: on a big-endian target lwip/def.h defines ntohl()/htonl() as macros, which
// would then mangle the declarations in <netinet/in.h> (pulled in later by parse.hpp).
#include <netinet/in.h>

#include "lwip/prot/icmp.h"
#include "lwip/prot/icmp6.h"
#include "lwip/prot/ip4.h"
#include "lwip/prot/ip6.h"
#include "lwip/prot/tcp.h"
#include "lwip/prot/udp.h"
#include "packet/parse.hpp"

namespace ptun::packet::wire {

// Byte by byte: portable to big-endian targets (MIPS routers); g++ turns each into one load or
// store plus a byte swap where the host needs one.
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

// Header layouts, checked once against lwIP's definitions so the offsets below cannot drift.
inline constexpr size_t kIp4Hlen = IP_HLEN;
inline constexpr size_t kIp6Hlen = IP6_HLEN;
inline constexpr size_t kTcpHlen = TCP_HLEN;
inline constexpr size_t kUdpHlen = UDP_HLEN;
inline constexpr size_t kIcmpHlen = sizeof(icmp_echo_hdr);  // type, code, csum, 4 bytes rest
inline constexpr size_t kIcmp6Hlen = ICMP6_HLEN;
static_assert(sizeof(ip_hdr) == kIp4Hlen && sizeof(ip6_hdr) == kIp6Hlen);
static_assert(sizeof(tcp_hdr) == kTcpHlen && sizeof(udp_hdr) == kUdpHlen);
static_assert(sizeof(icmp_echo_hdr) == 8 && sizeof(icmp6_echo_hdr) == kIcmp6Hlen);
static_assert(sizeof(ip6_frag_hdr) == IP6_FRAG_HLEN);

// IPv4 field offsets.
inline constexpr size_t kIp4Len = offsetof(ip_hdr, _len);
inline constexpr size_t kIp4Id = offsetof(ip_hdr, _id);
inline constexpr size_t kIp4Offset = offsetof(ip_hdr, _offset);
inline constexpr size_t kIp4Ttl = offsetof(ip_hdr, _ttl);
inline constexpr size_t kIp4Proto = offsetof(ip_hdr, _proto);
inline constexpr size_t kIp4Csum = offsetof(ip_hdr, _chksum);
inline constexpr size_t kIp4Src = offsetof(ip_hdr, src);
inline constexpr size_t kIp4Dst = offsetof(ip_hdr, dest);

// IPv6 field offsets.
inline constexpr size_t kIp6Plen = offsetof(ip6_hdr, _plen);
inline constexpr size_t kIp6Nexth = offsetof(ip6_hdr, _nexth);
inline constexpr size_t kIp6Hoplim = offsetof(ip6_hdr, _hoplim);
inline constexpr size_t kIp6Src = offsetof(ip6_hdr, src);
inline constexpr size_t kIp6Dst = offsetof(ip6_hdr, dest);
inline constexpr size_t kIp6FragOffset = offsetof(ip6_frag_hdr, _fragment_offset);

// TCP / UDP / ICMP field offsets (relative to the L4 header).
inline constexpr size_t kTcpSrc = offsetof(tcp_hdr, src);
inline constexpr size_t kTcpDst = offsetof(tcp_hdr, dest);
inline constexpr size_t kTcpHdrlenFlags = offsetof(tcp_hdr, _hdrlen_rsvd_flags);
inline constexpr size_t kTcpCsum = offsetof(tcp_hdr, chksum);
inline constexpr size_t kUdpLen = offsetof(udp_hdr, len);
inline constexpr size_t kUdpCsum = offsetof(udp_hdr, chksum);
inline constexpr size_t kIcmpCsum = offsetof(icmp_echo_hdr, chksum);
inline constexpr size_t kIcmpId = offsetof(icmp_echo_hdr, id);
static_assert(offsetof(icmp6_echo_hdr, id) == kIcmpId && offsetof(icmp6_hdr, chksum) == kIcmpCsum);

// IP protocol numbers (IPv4 protocol / IPv6 next header); TCP, UDP, ICMP, ICMPv6 are public in
// parse.hpp.
static_assert(kProtoTcp == IP6_NEXTH_TCP && kProtoUdp == IP6_NEXTH_UDP &&
              kProtoIcmp6 == IP6_NEXTH_ICMP6);
inline constexpr uint8_t kProtoHopByHop = IP6_NEXTH_HOPBYHOP;
inline constexpr uint8_t kProtoRouting = IP6_NEXTH_ROUTING;
inline constexpr uint8_t kProtoFragment = IP6_NEXTH_FRAGMENT;
inline constexpr uint8_t kProtoEsp = 50;
inline constexpr uint8_t kProtoAh = 51;
inline constexpr uint8_t kProtoNone = IP6_NEXTH_NONE;
inline constexpr uint8_t kProtoDestOpts = IP6_NEXTH_DESTOPTS;

}  // namespace ptun::packet::wire
