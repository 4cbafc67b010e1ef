// What the server's userspace forwarding lets clients reach, and how many flows each may hold.
// Pure: no sockets. Kernel forwarding never routes loopback, unspecified, multicast, broadcast
// or link-local destinations from a TUN either; the server's own tunnel addresses are answered
// for ping only (a relay there would expose the host's loopback-bound services).
#pragma once
#include <cstdint>
#include <span>
#include <unordered_map>

#include "common/net_addr.hpp"

namespace ptun::forward {

enum class Destination : uint8_t { ok, own, loopback, unspecified, multicast, broadcast, link_local };
const char* to_string(Destination d);

Destination classify_destination(const IpAddr& dst, std::span<const IpAddr> own);

// Flows per client address (TCP + UDP + ICMP), capped.
class FlowCounter {
 public:
  explicit FlowCounter(uint32_t per_client) : cap_(per_client) {}
  // False (and nothing counted) when `client` already holds the cap.
  bool acquire(const IpAddr& client);
  void release(const IpAddr& client);
  uint32_t count(const IpAddr& client) const;
  size_t clients() const { return counts_.size(); }

 private:
  uint32_t cap_;
  std::unordered_map<IpAddr, uint32_t, IpAddrHash> counts_;
};

}  // namespace ptun::forward
