#include "forward/policy.hpp"

#include <algorithm>

namespace ptun::forward {

const char* to_string(Destination d) {
  switch (d) {
    case Destination::ok: return "ok";
    case Destination::own: return "own";
    case Destination::loopback: return "loopback";
    case Destination::unspecified: return "unspecified";
    case Destination::multicast: return "multicast";
    case Destination::broadcast: return "broadcast";
    case Destination::link_local: return "link-local";
    case Destination::host: return "host";
    case Destination::denied: return "denied";
  }
  return "?";
}

Destination classify_destination(const IpAddr& dst, std::span<const IpAddr> own) {
  if (std::find(own.begin(), own.end(), dst) != own.end()) return Destination::own;
  const auto& b = dst.bytes;
  if (dst.is_v4()) {
    if (b[0] == 0) return Destination::unspecified;   // 0.0.0.0/8 "this network"
    if (b[0] == 127) return Destination::loopback;
    if (b[0] == 169 && b[1] == 254) return Destination::link_local;
    if (b[0] >= 224 && b[0] <= 239) return Destination::multicast;
    if (b[0] >= 240) return Destination::broadcast;     // class E and 255.255.255.255
    return Destination::ok;
  }
  if (dst.is_v6()) {
    bool zero_prefix = std::all_of(b.begin(), b.begin() + 15, [](uint8_t x) { return x == 0; });
    if (zero_prefix && b[15] == 0) return Destination::unspecified;
    if (zero_prefix && b[15] == 1) return Destination::loopback;
    if (b[0] == 0xff) return Destination::multicast;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return Destination::link_local;
    // IPv4-mapped (::ffff:0:0/96): judge the embedded IPv4 address.
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(b.begin(), b.begin() + 12, kMapped)) {
      Destination d = classify_destination(IpAddr::v4(b.data() + 12), {});
      if (d != Destination::ok) return d;
    }
    return Destination::ok;
  }
  return Destination::unspecified;
}

void DestinationPolicy::set_host_addresses(std::span<const IpAddr> addrs) {
  host_.clear();
  host_.insert(addrs.begin(), addrs.end());
}

bool DestinationPolicy::host_or_denied(const IpAddr& a, Destination* d) const {
  if (host_.count(a)) {
    *d = Destination::host;
    return true;
  }
  for (const auto& c : deny_) {
    if (c.contains(a)) {
      *d = Destination::denied;
      return true;
    }
  }
  return false;
}

Destination DestinationPolicy::classify(const IpAddr& dst) const {
  Destination d = classify_destination(dst, own_);
  if (d != Destination::ok) return d;
  if (host_or_denied(dst, &d)) return d;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (dst.is_v6() && std::equal(dst.bytes.begin(), dst.bytes.begin() + 12, kMapped)) {
    if (host_or_denied(IpAddr::v4(dst.bytes.data() + 12), &d)) return d;
  }
  return Destination::ok;
}

bool FlowCounter::acquire(const IpAddr& client) {
  uint32_t& n = counts_[client];
  if (n >= cap_) return false;
  ++n;
  return true;
}

void FlowCounter::release(const IpAddr& client) {
  auto it = counts_.find(client);
  if (it == counts_.end()) return;
  if (--it->second == 0) counts_.erase(it);
}

uint32_t FlowCounter::count(const IpAddr& client) const {
  auto it = counts_.find(client);
  return it == counts_.end() ? 0 : it->second;
}

}  // namespace ptun::forward
