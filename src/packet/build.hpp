// Packets ptun writes itself, for the server's userspace forwarding: a relayed UDP reply, a TCP
// reset refusing a connection, an ICMP echo reply. Sans-I/O; IP header and L4 checksums are
// filled in (through parse() + fill_l4_checksum, so a built packet always parses back).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/net_addr.hpp"
#include "packet/parse.hpp"

namespace ptun::packet {

// An IPv4 (no options, DF set, TTL 64) or IPv6 (hop limit 64) packet from src to dst carrying
// `l4` (a TCP/UDP/ICMP header and payload, its checksum field anything) as protocol `proto`.
// Returns the length, or 0 if the families differ or the packet does not fit `cap` / 65535.
size_t build_ip(const IpAddr& src, const IpAddr& dst, uint8_t proto, std::span<const uint8_t> l4,
                uint8_t* out, size_t cap);

// A UDP datagram from src to dst with `payload`.
size_t build_udp(const Endpoint& src, const Endpoint& dst, std::span<const uint8_t> payload,
                 uint8_t* out, size_t cap);

// The reset a closed port answers `seg` with (RFC 9293 3.10.7.1): from seg's destination to its
// source; if seg carries ACK, <SEQ=SEG.ACK><CTL=RST>, else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
// (SYN and FIN count one each). 0 if seg is not TCP with a header, or is itself a reset.
size_t build_tcp_reset(std::span<const uint8_t> seg, const Parsed& p, uint8_t* out, size_t cap);

// An ICMP echo reply (v4 type 0, v6 type 129) from `from` to `to`.
size_t build_echo_reply(const IpAddr& from, const IpAddr& to, uint16_t id, uint16_t seq,
                        std::span<const uint8_t> data, uint8_t* out, size_t cap);

// ICMP "destination unreachable" from `from` to the source of `orig` (an IP packet, or its
// first bytes: IP header plus at least 8 bytes), quoting orig. Codes: port (v4 3/3, v6 1/4) and
// host (v4 3/1, v6 1/3, "address unreachable"). 0 if orig does not parse far enough, or is
// itself ICMP.
enum class Unreachable : uint8_t { port, host };
size_t build_unreachable(std::span<const uint8_t> orig, const IpAddr& from, Unreachable why, uint8_t* out,
                         size_t cap);
inline size_t build_port_unreachable(std::span<const uint8_t> orig, const IpAddr& from, uint8_t* out, size_t cap) {
  return build_unreachable(orig, from, Unreachable::port, out, cap);
}

// An echo request's identifier, sequence number and data (v4 type 8 / v6 type 128 only).
struct EchoRequest {
  uint16_t id = 0, seq = 0;
  std::span<const uint8_t> data;
};
bool parse_echo_request(std::span<const uint8_t> pkt, const Parsed& p, EchoRequest* out);

}  // namespace ptun::packet
