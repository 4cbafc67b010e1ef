// Internet checksum (RFC 1071) and its incremental update (RFC 1624), plus the TCP/UDP/ICMPv6
// pseudo-header sums for IPv4 and IPv6.
//
// Values are host-order numbers of the 16-bit big-endian words: store them with a big-endian
// write (the field reads 0x12 0x34 for 0x1234).
#pragma once
#include <cstdint>
#include <span>

#include "packet/parse.hpp"

namespace ptun::packet {

// Adds the 16-bit big-endian words of `data` to `sum` (an odd final byte is padded with zero).
// The result is not folded: chain calls, then fold with checksum_fold(). Only the last span of
// a chain may have odd length (an odd span shifts the word alignment of what follows).
uint32_t checksum_partial(std::span<const uint8_t> data, uint32_t sum);
// Folds carries into 16 bits and returns the ones' complement: the value for a checksum field.
uint16_t checksum_fold(uint32_t sum);
// checksum_fold(checksum_partial(data, initial)). Over data that holds a correct checksum
// field, the result is 0.
uint16_t checksum(std::span<const uint8_t> data, uint32_t initial = 0);

// RFC 1624 eqn. 3: the new checksum after one 16-bit word (at an even offset from the start of
// the checksummed data) changes from old_val to new_val: HC' = ~(~HC + ~m + m').
uint16_t checksum_update16(uint16_t old_csum, uint16_t old_val, uint16_t new_val);
// The same for a 32-bit value at an even offset (an IPv4 address, a TCP sequence number).
uint16_t checksum_update32(uint16_t old_csum, uint32_t old_val, uint32_t new_val);

// Unfolded sum of the pseudo header (RFC 768/793 for IPv4, RFC 8200 8.1 for IPv6) for an L4
// segment of `l4_len` bytes with protocol `proto` between p.src and p.dst.
uint32_t pseudo_header_sum(const Parsed& p, uint8_t proto, uint32_t l4_len);

// The checksum over the L4 segment pkt[l3_header_len, total_len) as it is in the buffer, with
// the pseudo header for TCP, UDP and ICMPv6 (none for ICMPv4). 0 when the checksum field is
// correct. To fill a field, zero it first and store the result (see fill_l4_checksum).
// Precondition: p was parsed from pkt; meaningless for fragments (the checksum covers the
// reassembled datagram) and for an IPv6 routing header with segments left (final destination).
uint16_t l4_checksum(const Parsed& p, std::span<const uint8_t> pkt);
// True if p has a TCP/UDP/ICMP/ICMPv6 header, is not a fragment, and its checksum is correct.
// An IPv4 UDP checksum of 0 means "none" (RFC 768) and verifies; in IPv6 it is invalid.
bool verify_l4_checksum(const Parsed& p, std::span<const uint8_t> pkt);
// Recomputes and stores the TCP/UDP/ICMP/ICMPv6 checksum of a parsed, unfragmented packet
// (UDP 0 is sent as 0xffff). Returns false (packet untouched) if p has no such header or is a
// fragment.
bool fill_l4_checksum(const Parsed& p, std::span<uint8_t> pkt);

// True if pkt starts with an IPv4 header (IHL within pkt) whose header checksum is correct.
bool verify_ipv4_header_checksum(std::span<const uint8_t> pkt);
// Recomputes the IPv4 header checksum in place. Returns false (nothing written) if pkt does not
// start with an IPv4 header whose IHL fits pkt.
bool fill_ipv4_header_checksum(std::span<uint8_t> pkt);

}  // namespace ptun::packet
