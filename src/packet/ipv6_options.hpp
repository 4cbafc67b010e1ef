// Options that lwIP would walk: IPv6 Hop-by-Hop and Destination Options TLVs (RFC 8200 4.2)
// and TCP options. parse() only checks that extension
// headers fit the packet; this also checks each option inside them fits its header. lwIP
// 2.1.3's ip6_input reads an option's length byte past the packet when the last option's type
// is the header's last byte (found by fuzz_netstack): packets for lwIP must pass this too.
#pragma once
#include <cstdint>
#include <span>

#include "packet/parse.hpp"

namespace ptun::packet {

// True for IPv4 and for IPv6 whose options are well-formed. Precondition: p is parse()'s ok
// result for pkt.
bool ipv6_options_well_formed(std::span<const uint8_t> pkt, const Parsed& p);

// The same for TCP options (RFC 9293 3.2): after EOL nothing is read; NOP is one byte; every
// other option needs its length byte inside the header and a length of 2 or more that fits.
// lwIP 2.1.3's tcp_parseopt reads an option's length byte past the header when the option's
// kind is the header's last byte (found by fuzz_netstack). True when p is not TCP.
bool tcp_options_well_formed(std::span<const uint8_t> pkt, const Parsed& p);

}  // namespace ptun::packet
