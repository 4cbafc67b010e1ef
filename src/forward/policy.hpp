// What the server's userspace forwarding lets clients reach, and how many flows each may hold.
// Pure: no sockets. Kernel forwarding never routes loopback, unspecified, multicast, broadcast
// or link-local destinations from a TUN either; the server's own tunnel addresses are answered
// for ping only (a relay there would expose the host's loopback-bound services).
//
// Userspace forwarding connects from the server host itself, so a flow to any address of the
// host arrives as local traffic and no interface-based INPUT rule applies to it: every host
// address is refused (the set is kept current by the server through rtnetlink), and so is a
// configurable deny list ([tunnel] userspace_deny: cloud metadata services by default).
#pragma once
#include <cstdint>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/net_addr.hpp"

namespace ptun::forward {

enum class Destination : uint8_t { ok, own, loopback, unspecified, multicast, broadcast, link_local, host, denied };
const char* to_string(Destination d);

// The classes an address has by itself (and `own`, the tunnel addresses).
Destination classify_destination(const IpAddr& dst, std::span<const IpAddr> own);

// classify_destination plus what only the running server knows: the host's addresses and the
// deny list. An IPv4-mapped IPv6 destination is judged by its IPv4 address too.
class DestinationPolicy {
 public:
  DestinationPolicy(std::vector<IpAddr> own, std::vector<Cidr> deny) : own_(std::move(own)), deny_(std::move(deny)) {}
  // Replaces the set of host addresses.
  void set_host_addresses(std::span<const IpAddr> addrs);
  Destination classify(const IpAddr& dst) const;
  size_t host_address_count() const { return host_.size(); }

 private:
  bool host_or_denied(const IpAddr& a, Destination* d) const;
  std::vector<IpAddr> own_;
  std::vector<Cidr> deny_;
  std::unordered_set<IpAddr, IpAddrHash> host_;
};

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
