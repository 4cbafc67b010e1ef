#include "common/net_addr.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace ptun {

IpAddr IpAddr::v4(const uint8_t* b4) {
  IpAddr a;
  a.family = Family::v4;
  std::memcpy(a.bytes.data(), b4, 4);
  return a;
}

IpAddr IpAddr::v4(uint32_t host_order) {
  uint8_t b[4] = {uint8_t(host_order >> 24), uint8_t(host_order >> 16), uint8_t(host_order >> 8),
                  uint8_t(host_order)};
  return v4(b);
}

IpAddr IpAddr::v6(const uint8_t* b16) {
  IpAddr a;
  a.family = Family::v6;
  std::memcpy(a.bytes.data(), b16, 16);
  return a;
}

uint32_t IpAddr::v4_host_order() const {
  return (uint32_t(bytes[0]) << 24) | (uint32_t(bytes[1]) << 16) | (uint32_t(bytes[2]) << 8) |
         bytes[3];
}

Result<IpAddr> IpAddr::parse(std::string_view s) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (s.empty() || s.size() >= sizeof buf)
    return Error(Errc::invalid_argument, "invalid IP address '" + std::string(s) + "'");
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = 0;
  uint8_t b[16];
  if (inet_pton(AF_INET, buf, b) == 1) return v4(b);
  if (inet_pton(AF_INET6, buf, b) == 1) return v6(b);
  return Error(Errc::invalid_argument, "invalid IP address '" + std::string(s) + "'");
}

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN];
  if (family == Family::v4) return inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
  if (family == Family::v6) return inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return "";
}

static Result<Cidr> parse_cidr(std::string_view s, bool allow_host_bits) {
  auto slash = s.find('/');
  auto bad = [&](const char* why) {
    return Error(Errc::invalid_argument, "invalid prefix '" + std::string(s) + "': " + why);
  };
  if (slash == std::string_view::npos) return bad("expected ADDRESS/LENGTH");
  auto addr = IpAddr::parse(s.substr(0, slash));
  if (!addr) return bad("bad address");
  auto len_s = s.substr(slash + 1);
  unsigned len = 0;
  auto [p, ec] = std::from_chars(len_s.data(), len_s.data() + len_s.size(), len);
  if (ec != std::errc() || p != len_s.data() + len_s.size() || len_s.empty())
    return bad("bad prefix length");
  if (len > addr->size() * 8) return bad("prefix length too long");
  Cidr c{*addr, uint8_t(len)};
  if (!allow_host_bits && !(c.network() == c)) return bad("host bits set");
  return c;
}

Result<Cidr> Cidr::parse(std::string_view s) { return parse_cidr(s, false); }
Result<Cidr> Cidr::parse_interface(std::string_view s) { return parse_cidr(s, true); }

std::string Cidr::str() const { return addr.str() + "/" + std::to_string(prefix); }

Cidr Cidr::network() const {
  Cidr c = *this;
  size_t n = addr.size();
  for (size_t i = 0; i < n; ++i) {
    int bits = int(prefix) - int(i * 8);
    uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : uint8_t(0xff << (8 - bits));
    c.addr.bytes[i] &= mask;
  }
  return c;
}

bool Cidr::contains(const IpAddr& a) const {
  if (a.family != addr.family) return false;
  Cidr probe{a, prefix};
  return probe.network().addr == network().addr;
}

Result<Endpoint> Endpoint::parse(std::string_view s) {
  auto bad = [&](const char* why) {
    return Error(Errc::invalid_argument, "invalid endpoint '" + std::string(s) + "': " + why);
  };
  std::string_view host, port;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return bad("expected [ADDRESS]:PORT");
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return bad("expected ADDRESS:PORT");
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return bad("IPv6 addresses need [brackets]");
  }
  auto addr = IpAddr::parse(host);
  if (!addr) return bad("bad address");
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || port.empty() || p > 65535)
    return bad("bad port");
  return Endpoint{*addr, uint16_t(p)};
}

std::string Endpoint::str() const {
  if (addr.is_v6()) return "[" + addr.str() + "]:" + std::to_string(port);
  return addr.str() + ":" + std::to_string(port);
}

socklen_t Endpoint::to_sockaddr(sockaddr_storage* ss) const {
  std::memset(ss, 0, sizeof *ss);
  if (addr.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, addr.bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  if (addr.is_v6()) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, addr.bytes.data(), 16);
    return sizeof(sockaddr_in6);
  }
  return 0;
}

Endpoint Endpoint::from_sockaddr(const sockaddr* sa) {
  Endpoint e;
  if (sa->sa_family == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
    e.addr = IpAddr::v4(reinterpret_cast<const uint8_t*>(&sin->sin_addr));
    e.port = ntohs(sin->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
    const uint8_t* b = reinterpret_cast<const uint8_t*>(&sin6->sin6_addr);
    // v4-mapped addresses (dual-stack sockets) are reported as plain IPv4.
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    e.addr = std::memcmp(b, kMapped, 12) == 0 ? IpAddr::v4(b + 12) : IpAddr::v6(b);
    e.port = ntohs(sin6->sin6_port);
  }
  return e;
}

size_t IpAddrHash::operator()(const IpAddr& a) const noexcept {
  uint64_t h = 1469598103934665603ull ^ uint64_t(a.family);
  for (size_t i = 0; i < a.size(); ++i) h = (h ^ a.bytes[i]) * 1099511628211ull;
  return size_t(h);
}

size_t EndpointHash::operator()(const Endpoint& e) const noexcept {
  return IpAddrHash{}(e.addr) * 31 + e.port;
}

std::optional<IpAddr> pool_offset(const Cidr& pool, uint64_t n) {
  IpAddr a = pool.network().addr;
  size_t i = a.size();
  uint64_t carry = n;
  while (carry && i > 0) {
    --i;
    uint64_t v = a.bytes[i] + (carry & 0xff);
    a.bytes[i] = uint8_t(v);
    carry = (carry >> 8) + (v >> 8);
  }
  if (carry || !pool.contains(a)) return std::nullopt;
  return a;
}

bool is_v4_broadcast(const Cidr& pool, const IpAddr& a) {
  if (!a.is_v4() || pool.prefix >= 31) return false;
  uint32_t host_mask = pool.prefix == 0 ? 0xffffffffu : (1u << (32 - pool.prefix)) - 1;
  return (a.v4_host_order() & host_mask) == host_mask;
}

}  // namespace ptun
