// IPv4/IPv6 packet parsing for the data path: one pass over the headers of a packet read from
// the TUN or decrypted from a peer, yielding addresses, the final L4 protocol and its ports.
// Sans-I/O, no allocation, no exceptions: every packet of the data path goes through parse().
// It is also what protects lwIP from malformed input (lwIP 2.1.3 reads past the buffer on
// truncated IPv6 extension headers): hand lwIP only packets that parsed ok.
#pragma once
#include <cstdint>
#include <span>

#include "common/net_addr.hpp"

namespace ptun::packet {

// Why a packet was rejected; small so callers can count drops per cause in an array.
enum class ParseStatus : uint8_t {
  ok,
  empty,                 // zero-length buffer
  bad_version,           // first nibble neither 4 nor 6
  truncated_header,      // shorter than the fixed IP header, or than IPv4 IHL*4
  bad_header_length,     // IPv4 IHL < 5
  bad_total_length,      // IPv4 total length < IHL*4 or > buffer; IPv6 40 + payload > buffer
  truncated_ext_header,  // an IPv6 extension header runs past the packet
  too_many_ext_headers,  // more than kMaxExtHeaders IPv6 extension headers
  bad_ext_header,        // hop-by-hop not first, or a second fragment header
  bad_fragment,          // fragment reaches past 65535 bytes (ping of death)
  truncated_l4,          // unfragmented or first fragment too short for its TCP/UDP/ICMP header
  bad_tcp_header,        // TCP data offset < 5 or options past the packet
  bad_udp_length,        // UDP length < 8 or longer than the IP payload
  count_                 // number of statuses (array sizing), never returned
};
const char* to_string(ParseStatus);

// More extension headers than this are dropped: legitimate traffic uses two or three.
inline constexpr unsigned kMaxExtHeaders = 8;

struct Parsed {
  Family family = Family::none;
  IpAddr src, dst;
  uint8_t l4_proto = 0;        // final protocol after IPv6 extension headers (6, 17, 1, 58, ...);
                               // 50 (ESP) and 59 (no next header) end the walk
  uint16_t l3_header_len = 0;  // IPv4 IHL*4, or IPv6 40 + extension headers = offset of L4 header
  uint16_t total_len = 0;      // from the IP header; bytes of the buffer past it are ignored
  uint8_t ttl = 0;             // TTL / hop limit
  uint8_t tos = 0;             // IPv4 TOS / IPv6 traffic class
  bool dont_fragment = false;  // IPv4 DF bit (always false for IPv6, where routers never fragment)
  bool is_fragment = false;    // any fragment (IPv4 MF or offset; IPv6 fragment header that is
                               // not an atomic fragment, RFC 6946)
  bool first_fragment = false; // is_fragment and offset 0 (the L4 header is present)
  uint16_t sport = 0, dport = 0;  // TCP/UDP ports; ICMP/ICMPv6 echo: both = identifier
  uint8_t tcp_flags = 0;          // TCP only (FIN 0x01 SYN 0x02 RST 0x04 ... CWR 0x80)
  uint8_t icmp_type = 0, icmp_code = 0;
  bool has_l4 = false;  // TCP/UDP/ICMP/ICMPv6 header fully present and parsed (never for
                        // non-first fragments or other protocols)

  uint16_t l4_len() const { return uint16_t(total_len - l3_header_len); }
};

// Parses pkt's IP header, IPv6 extension headers and TCP/UDP/ICMP/ICMPv6 header.
// On ok, *out is complete. On any other status *out holds whatever was parsed before the error
// (unspecified): do not use it. Checksums are not verified (see checksum.hpp): packets from the
// TUN come from the kernel and packets from peers are authenticated by the tunnel.
// Unknown L4 protocols are ok with has_l4 false and ports 0.
ParseStatus parse(std::span<const uint8_t> pkt, Parsed* out);

// Only the IP version and one address, the cheapest possible, to route a packet to a session.
// Returns false on malformed input (shorter than the fixed header, bad version).
bool peek_dst(std::span<const uint8_t> pkt, IpAddr* dst);
bool peek_src(std::span<const uint8_t> pkt, IpAddr* src);

// IPv4/IPv6 protocol numbers used across the module.
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmp6 = 58;

}  // namespace ptun::packet
