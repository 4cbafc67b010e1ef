// The 5-tuple identifying a flow, as seen in one direction. ICMP/ICMPv6 echo uses the
// identifier as both ports, so a request's key reversed equals its reply's key.
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/net_addr.hpp"
#include "packet/parse.hpp"

namespace ptun::packet {

struct FlowKey {
  IpAddr src, dst;
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
  bool operator==(const FlowKey&) const = default;
};

// From a packet that parsed ok. Packets without an L4 header (non-first fragments, unknown
// protocols, ICMP errors) get ports 0: all such packets between two hosts share one key.
FlowKey flow_key(const Parsed&);
// The key of the same flow in the other direction (addresses and ports swapped).
FlowKey reversed(const FlowKey&);

struct FlowKeyHash {
  size_t operator()(const FlowKey&) const noexcept;
};

}  // namespace ptun::packet
