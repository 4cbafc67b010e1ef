// ICMP "too big" replies for packets that do not fit the tunnel, so that path MTU discovery
// (RFC 1191 / RFC 8201) finds the tunnel MTU instead of black-holing large packets.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/net_addr.hpp"
#include "packet/parse.hpp"

namespace ptun::packet {

// Quoting limits: the whole error stays within the size every host must accept.
inline constexpr size_t kIcmp4ErrorMax = 576;   // RFC 1812 4.3.2.3
inline constexpr size_t kIcmp6ErrorMax = 1280;  // RFC 4443 2.4(c)

// Builds ICMPv4 type 3 code 4 "fragmentation needed" (with the next-hop MTU, RFC 1191) or
// ICMPv6 type 2 "Packet Too Big" for `orig`, from `from` to orig's source, quoting as much of
// the original (its first total_len bytes) as fits kIcmp4ErrorMax / kIcmp6ErrorMax and `cap`.
// IP header, ICMP checksum and (IPv6) pseudo header are filled in. TTL/hop limit 64.
// Returns the reply's length, or 0 when no reply must be generated:
//  - `from` is not of orig's family, or `cap` cannot hold the reply with the original's
//    IP header and 8 more bytes (IPv4) / the original IPv6 header (IPv6);
//  - the original is an ICMP error (or ICMP whose type is unknown), or a non-first fragment;
//  - IPv4: DF is clear (the sender allows fragmenting), mtu < 68, or the destination is
//    multicast/broadcast (RFC 1812 4.3.2.7);
//  - IPv6: mtu < 1280 (a tunnel must carry 1280-byte packets; RFC 8200 5);
//  - the source is unspecified, multicast, loopback or (IPv4) broadcast / class E.
// Precondition: p is parse()'s ok result for orig; out does not overlap orig.
size_t make_too_big(std::span<const uint8_t> orig, const Parsed& p, uint16_t mtu,
                    const IpAddr& from, uint8_t* out, size_t cap);

}  // namespace ptun::packet
