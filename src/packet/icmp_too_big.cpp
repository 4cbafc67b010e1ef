#include "packet/icmp_too_big.hpp"

#include <algorithm>

#include "packet/checksum.hpp"
#include "packet/wire.hpp"

namespace ptun::packet {
using namespace wire;

namespace {
constexpr uint8_t kReplyTtl = 64;
constexpr uint8_t kIcmpFragNeeded = 4;  // type 3 (ICMP_DUR) code 4

bool is_icmp_error(const Parsed& p) {
  if (p.family == Family::v4 && p.l4_proto == kProtoIcmp) {
    if (!p.has_l4) return true;  // type unknown: never risk an error about an error
    switch (p.icmp_type) {
      case ICMP_ER: case ICMP_ECHO: case 9: case 10:  // router advertisement / solicitation
      case ICMP_TS: case ICMP_TSR: case ICMP_IRQ: case ICMP_IR: case ICMP_AM: case ICMP_AMR:
        return false;
      default:
        return true;
    }
  }
  if (p.family == Family::v6 && p.l4_proto == kProtoIcmp6)
    return !p.has_l4 || p.icmp_type < 128;  // RFC 4443 2.1: types 0-127 are errors
  return false;
}

bool v4_unusable_source(const IpAddr& a) {
  uint8_t b0 = a.bytes[0];
  return b0 == 0 || b0 == 127 || b0 >= 224;  // this-network, loopback, multicast, class E, bcast
}

bool v6_unusable_source(const IpAddr& a) {
  static constexpr uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static constexpr uint8_t kUnspecified[16] = {};
  return a.bytes[0] == 0xff || std::memcmp(a.bytes.data(), kLoopback, 16) == 0 ||
         std::memcmp(a.bytes.data(), kUnspecified, 16) == 0;
}

size_t too_big_v4(std::span<const uint8_t> orig, const Parsed& p, uint16_t mtu,
                  const IpAddr& from, uint8_t* out, size_t cap) {
  if (!p.dont_fragment || mtu < 68) return 0;
  if (v4_unusable_source(p.src) || p.dst.bytes[0] >= 224) return 0;
  constexpr size_t kHdrs = kIp4Hlen + kIcmpHlen;
  size_t quote = std::min({size_t(p.total_len), kIcmp4ErrorMax - kHdrs, cap > kHdrs ? cap - kHdrs : 0});
  if (quote < size_t(p.l3_header_len) + 8) return 0;  // RFC 792: header + 64 bits at least
  size_t len = kHdrs + quote;

  uint8_t* ip = out;
  std::memset(ip, 0, kHdrs);
  ip[0] = 0x45;
  ip[1] = 0xc0;  // precedence "internetwork control", as routers send ICMP errors
  store16(ip + kIp4Len, uint16_t(len));
  ip[kIp4Ttl] = kReplyTtl;
  ip[kIp4Proto] = kProtoIcmp;
  std::memcpy(ip + kIp4Src, from.bytes.data(), 4);
  std::memcpy(ip + kIp4Dst, p.src.bytes.data(), 4);
  store16(ip + kIp4Csum, checksum({ip, kIp4Hlen}));

  uint8_t* icmp = out + kIp4Hlen;
  icmp[0] = ICMP_DUR;
  icmp[1] = kIcmpFragNeeded;
  store16(icmp + 6, mtu);  // next-hop MTU in the low half of the "unused" word (RFC 1191)
  std::memcpy(icmp + kIcmpHlen, orig.data(), quote);
  store16(icmp + kIcmpCsum, checksum({icmp, kIcmpHlen + quote}));
  return len;
}

size_t too_big_v6(std::span<const uint8_t> orig, const Parsed& p, uint16_t mtu,
                  const IpAddr& from, uint8_t* out, size_t cap) {
  // RFC 4443 2.4(e.3): Packet Too Big is sent even for multicast destinations.
  if (mtu < kIcmp6ErrorMax || v6_unusable_source(p.src)) return 0;
  constexpr size_t kHdrs = kIp6Hlen + kIcmp6Hlen;
  size_t quote = std::min({size_t(p.total_len), kIcmp6ErrorMax - kHdrs, cap > kHdrs ? cap - kHdrs : 0});
  if (quote < kIp6Hlen) return 0;
  size_t len = kHdrs + quote;

  uint8_t* ip = out;
  std::memset(ip, 0, kHdrs);
  ip[0] = 0x60;
  store16(ip + kIp6Plen, uint16_t(kIcmp6Hlen + quote));
  ip[kIp6Nexth] = kProtoIcmp6;
  ip[kIp6Hoplim] = kReplyTtl;
  std::memcpy(ip + kIp6Src, from.bytes.data(), 16);
  std::memcpy(ip + kIp6Dst, p.src.bytes.data(), 16);

  uint8_t* icmp = out + kIp6Hlen;
  icmp[0] = ICMP6_TYPE_PTB;
  store32(icmp + 4, mtu);
  std::memcpy(icmp + kIcmp6Hlen, orig.data(), quote);
  Parsed reply;
  reply.family = Family::v6;
  reply.src = from;
  reply.dst = p.src;
  uint32_t sum = pseudo_header_sum(reply, kProtoIcmp6, uint32_t(kIcmp6Hlen + quote));
  store16(icmp + kIcmpCsum, checksum({icmp, kIcmp6Hlen + quote}, sum));
  return len;
}
}  // namespace

size_t make_too_big(std::span<const uint8_t> orig, const Parsed& p, uint16_t mtu,
                    const IpAddr& from, uint8_t* out, size_t cap) {
  if (from.family != p.family || p.total_len > orig.size()) return 0;
  if ((p.is_fragment && !p.first_fragment) || is_icmp_error(p)) return 0;
  if (p.family == Family::v4) return too_big_v4(orig, p, mtu, from, out, cap);
  if (p.family == Family::v6) return too_big_v6(orig, p, mtu, from, out, cap);
  return 0;
}

}  // namespace ptun::packet
