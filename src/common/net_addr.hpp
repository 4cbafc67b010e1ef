// IP addresses, prefixes and endpoints: value types shared by config, packet, server and netcfg.
// Pure code: parsing and formatting only (inet_pton/ntop), no sockets.
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace ptun {

enum class Family : uint8_t { none = 0, v4 = 4, v6 = 6 };

// An IPv4 or IPv6 address; IPv4 is stored in the first 4 bytes of `bytes`, the rest zero.
struct IpAddr {
  Family family = Family::none;
  std::array<uint8_t, 16> bytes{};

  static IpAddr v4(const uint8_t* b4);
  static IpAddr v4(uint32_t host_order);
  static IpAddr v6(const uint8_t* b16);
  static Result<IpAddr> parse(std::string_view s);
  std::string str() const;
  bool is_v4() const { return family == Family::v4; }
  bool is_v6() const { return family == Family::v6; }
  bool empty() const { return family == Family::none; }
  size_t size() const { return family == Family::v4 ? 4 : family == Family::v6 ? 16 : 0; }
  uint32_t v4_host_order() const;
  bool operator==(const IpAddr&) const = default;
  auto operator<=>(const IpAddr&) const = default;
};

// A network prefix (CIDR). Host bits must be zero when parsed (10.0.0.1/24 is rejected as a
// route but accepted by parse_interface() which keeps the address).
struct Cidr {
  IpAddr addr;
  uint8_t prefix = 0;

  static Result<Cidr> parse(std::string_view s);               // "10.0.0.0/8", host bits zero
  static Result<Cidr> parse_interface(std::string_view s);     // "10.0.0.1/24", host bits allowed
  std::string str() const;
  bool contains(const IpAddr& a) const;
  Cidr network() const;  // host bits cleared
  bool operator==(const Cidr&) const = default;
};

// Address pools (the server's, the cluster's): the network address + n, nullopt if that leaves
// the prefix; and whether `a` is the IPv4 broadcast address of `pool` (never handed out).
std::optional<IpAddr> pool_offset(const Cidr& pool, uint64_t n);
bool is_v4_broadcast(const Cidr& pool, const IpAddr& a);

// An address and UDP/TCP port. String forms: "1.2.3.4:443", "[2001:db8::1]:443".
struct Endpoint {
  IpAddr addr;
  uint16_t port = 0;

  static Result<Endpoint> parse(std::string_view s);
  std::string str() const;
  // sockaddr conversion for the I/O layer; returns the length written (0 if empty).
  socklen_t to_sockaddr(sockaddr_storage* ss) const;
  static Endpoint from_sockaddr(const sockaddr* sa);
  bool operator==(const Endpoint&) const = default;
};

struct IpAddrHash {
  size_t operator()(const IpAddr& a) const noexcept;
};
struct EndpointHash {
  size_t operator()(const Endpoint& e) const noexcept;
};

}  // namespace ptun
