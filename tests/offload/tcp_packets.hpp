// Hand-built TCP/UDP packets and independent checksum checks for the offload tests (written from
// RFC 791/793/768/8200 on top of tests/tun/test_packets.hpp, not with src/packet's code).
#pragma once
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "common/buffer_pool.hpp"
#include "offload/vnet_hdr.hpp"
#include "tun/test_packets.hpp"

namespace ptun::test {

struct TcpSpec {
  IpAddr src = *IpAddr::parse("10.0.0.1"), dst = *IpAddr::parse("10.0.0.2");
  uint16_t sport = 40000, dport = 443;
  uint32_t seq = 1000, ack = 5000;
  uint8_t flags = 0x10;  // ACK
  uint16_t win = 512;
  std::vector<uint8_t> options;  // multiple of 4
  uint16_t ip_id = 100;
  bool df = true;
  uint8_t ttl = 64, tos = 0;
  uint32_t flow_label = 0;
};

inline uint32_t pseudo_sum(std::span<const uint8_t> pkt, uint8_t proto, size_t l4_len) {
  bool v4 = (pkt[0] >> 4) == 4;
  uint32_t acc = v4 ? sum16(&pkt[12], 8) : sum16(&pkt[8], 32);
  return acc + proto + uint32_t(l4_len >> 16) + uint32_t(l4_len & 0xffff);
}
inline size_t l3_len(std::span<const uint8_t> pkt) {
  return (pkt[0] >> 4) == 4 ? size_t(pkt[0] & 0xf) * 4 : 40;
}
inline size_t ip_total(std::span<const uint8_t> pkt) {
  return (pkt[0] >> 4) == 4 ? get16(&pkt[2]) : 40u + get16(&pkt[4]);
}
// L4 checksum over the whole packet (TCP 6 / UDP 17 after a plain IP header) is correct.
inline bool l4_ok(std::span<const uint8_t> pkt, uint8_t proto) {
  size_t l3 = l3_len(pkt), len = ip_total(pkt) - l3;
  return fold(sum16(&pkt[l3], len, pseudo_sum(pkt, proto, len))) == 0;
}
inline bool ip4_ok(std::span<const uint8_t> pkt) { return fold(sum16(pkt.data(), l3_len(pkt))) == 0; }

// An IPv4 or IPv6 (by spec.src) TCP packet with correct checksums.
inline std::vector<uint8_t> tcp_packet(const TcpSpec& s, std::span<const uint8_t> payload) {
  const bool v4 = s.src.is_v4();
  const size_t l3 = v4 ? 20 : 40, th = 20 + s.options.size();
  std::vector<uint8_t> p(l3 + th + payload.size());
  if (v4) {
    p[0] = 0x45;
    p[1] = s.tos;
    put16(&p[2], uint16_t(p.size()));
    put16(&p[4], s.ip_id);
    p[6] = s.df ? 0x40 : 0;
    p[8] = s.ttl;
    p[9] = 6;
    std::memcpy(&p[12], s.src.bytes.data(), 4);
    std::memcpy(&p[16], s.dst.bytes.data(), 4);
    put16(&p[10], fold(sum16(p.data(), 20)));
  } else {
    p[0] = uint8_t(0x60 | s.tos >> 4);
    p[1] = uint8_t(s.tos << 4 | ((s.flow_label >> 16) & 0xf));
    put16(&p[2], uint16_t(s.flow_label));
    put16(&p[4], uint16_t(p.size() - 40));
    p[6] = 6;
    p[7] = s.ttl;
    std::memcpy(&p[8], s.src.bytes.data(), 16);
    std::memcpy(&p[24], s.dst.bytes.data(), 16);
  }
  uint8_t* t = &p[l3];
  put16(t, s.sport);
  put16(t + 2, s.dport);
  put16(t + 4, uint16_t(s.seq >> 16));
  put16(t + 6, uint16_t(s.seq));
  put16(t + 8, uint16_t(s.ack >> 16));
  put16(t + 10, uint16_t(s.ack));
  t[12] = uint8_t(th / 4 << 4);
  t[13] = s.flags;
  put16(t + 14, s.win);
  std::copy(s.options.begin(), s.options.end(), t + 20);
  std::copy(payload.begin(), payload.end(), t + th);
  put16(t + 16, fold(sum16(t, p.size() - l3, pseudo_sum(p, 6, p.size() - l3))));
  return p;
}

// A UDP packet over IPv4 or IPv6 with a correct checksum.
inline std::vector<uint8_t> udp_packet(const IpAddr& src, const IpAddr& dst, uint16_t sport,
                                       uint16_t dport, std::span<const uint8_t> payload) {
  if (src.is_v6()) return udp6(src, sport, dst, dport, payload);
  std::vector<uint8_t> p = udp4(src, sport, dst, dport, payload);
  uint16_t c = fold(sum16(&p[20], p.size() - 20, pseudo_sum(p, 17, p.size() - 20)));
  put16(&p[26], c == 0 ? 0xffff : c);
  return p;
}

// Turns a packet with correct checksums into what a TUN hands over with NEEDS_CSUM: the L4
// checksum field holds the folded pseudo-header sum only.
inline void make_partial(std::vector<uint8_t>& p, uint8_t proto) {
  size_t l3 = l3_len(p), len = ip_total(p) - l3;
  uint16_t partial = uint16_t(~fold(pseudo_sum(p, proto, len)));
  put16(&p[l3 + (proto == 6 ? 16 : 6)], partial);
}

inline std::vector<uint8_t> pattern(size_t n, uint8_t seed = 0) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(i * 7 + seed + (i >> 8));
  return v;
}

// A pool buffer holding a copy of pkt.
inline PacketBuf* load(BufferPool& pool, std::span<const uint8_t> pkt) {
  PacketBuf* b = pool.copy(pkt);
  REQUIRE(b != nullptr);
  return b;
}

}  // namespace ptun::test
