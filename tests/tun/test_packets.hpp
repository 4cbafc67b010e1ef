// Hand-built IPv4/IPv6 packets for the TUN tests (the packet module has its own parser; these are
// deliberately independent, written from RFC 791/768/792/8200).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "common/net_addr.hpp"

namespace ptun::test {

inline uint32_t sum16(const uint8_t* p, size_t n, uint32_t acc = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += uint32_t(p[i] << 8 | p[i + 1]);
  if (n & 1) acc += uint32_t(p[n - 1] << 8);
  return acc;
}
inline uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return uint16_t(~acc);
}
inline void put16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }
inline uint16_t get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

// IPv4 header (20 bytes, DF, TTL 64) + `l4`, with the header checksum.
inline std::vector<uint8_t> ipv4(const IpAddr& src, const IpAddr& dst, uint8_t proto,
                                 std::span<const uint8_t> l4) {
  std::vector<uint8_t> p(20 + l4.size());
  p[0] = 0x45;
  put16(&p[2], uint16_t(p.size()));
  p[6] = 0x40;
  p[8] = 64;
  p[9] = proto;
  std::memcpy(&p[12], src.bytes.data(), 4);
  std::memcpy(&p[16], dst.bytes.data(), 4);
  put16(&p[10], fold(sum16(p.data(), 20)));
  std::copy(l4.begin(), l4.end(), p.begin() + 20);
  return p;
}

inline std::vector<uint8_t> udp(uint16_t sport, uint16_t dport, std::span<const uint8_t> payload) {
  std::vector<uint8_t> u(8 + payload.size());
  put16(&u[0], sport);
  put16(&u[2], dport);
  put16(&u[4], uint16_t(u.size()));
  std::copy(payload.begin(), payload.end(), u.begin() + 8);
  return u;
}

// UDP over IPv4 (checksum 0 = none, allowed for IPv4).
inline std::vector<uint8_t> udp4(const IpAddr& src, uint16_t sport, const IpAddr& dst,
                                 uint16_t dport, std::span<const uint8_t> payload) {
  return ipv4(src, dst, 17, udp(sport, dport, payload));
}

// UDP over IPv6 with the mandatory checksum over the pseudo-header.
inline std::vector<uint8_t> udp6(const IpAddr& src, uint16_t sport, const IpAddr& dst,
                                 uint16_t dport, std::span<const uint8_t> payload) {
  std::vector<uint8_t> u = udp(sport, dport, payload);
  uint32_t acc = sum16(src.bytes.data(), 16);
  acc = sum16(dst.bytes.data(), 16, acc);
  acc += uint32_t(u.size()) + 17;
  uint16_t c = fold(sum16(u.data(), u.size(), acc));
  put16(&u[6], c == 0 ? 0xffff : c);
  std::vector<uint8_t> p(40 + u.size());
  p[0] = 0x60;
  put16(&p[4], uint16_t(u.size()));
  p[6] = 17;
  p[7] = 64;
  std::memcpy(&p[8], src.bytes.data(), 16);
  std::memcpy(&p[24], dst.bytes.data(), 16);
  std::copy(u.begin(), u.end(), p.begin() + 40);
  return p;
}

// ICMP echo request (type 8) with id/seq and payload.
inline std::vector<uint8_t> icmp4_echo(const IpAddr& src, const IpAddr& dst, uint16_t id,
                                       uint16_t seq, std::span<const uint8_t> payload) {
  std::vector<uint8_t> m(8 + payload.size());
  m[0] = 8;
  put16(&m[4], id);
  put16(&m[6], seq);
  std::copy(payload.begin(), payload.end(), m.begin() + 8);
  put16(&m[2], fold(sum16(m.data(), m.size())));
  return ipv4(src, dst, 1, m);
}

}  // namespace ptun::test
