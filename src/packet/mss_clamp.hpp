// TCP MSS clamping: SYNs crossing the tunnel advertise at most what fits the tunnel MTU, so TCP
// never sends segments that need fragmenting or a Packet Too Big round trip.
#pragma once
#include <cstdint>
#include <span>

#include "packet/parse.hpp"

namespace ptun::packet {

// On a TCP SYN or SYN-ACK (both directions go through it) whose MSS option exceeds max_mss,
// lowers the option to max_mss and updates the TCP checksum incrementally (RFC 1624).
// Returns true if the packet changed. Leaves everything else alone: non-TCP, non-SYN,
// fragments, SYNs without an MSS option, malformed options (an option running past the TCP
// header ends the scan). Precondition: p was parsed (ok) from pkt.
bool clamp_mss(std::span<uint8_t> pkt, const Parsed& p, uint16_t max_mss);

// The MSS for a tunnel MTU: mtu - 40 (IPv4 + TCP headers) or mtu - 60 (IPv6 + TCP), 0 if the
// MTU cannot hold the headers.
uint16_t mss_for_mtu(Family family, uint16_t mtu);

}  // namespace ptun::packet
