#include "packet/build.hpp"

#include <algorithm>
#include <cstring>

#include "packet/checksum.hpp"
#include "packet/wire.hpp"

namespace ptun::packet {
using namespace wire;

namespace {
constexpr uint8_t kTtl = 64;
constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAck = 0x10;
}  // namespace

size_t build_ip(const IpAddr& src, const IpAddr& dst, uint8_t proto, std::span<const uint8_t> l4,
                uint8_t* out, size_t cap) {
  if (src.family != dst.family || src.family == Family::none) return 0;
  size_t hlen = src.is_v4() ? kIp4Hlen : kIp6Hlen;
  size_t len = hlen + l4.size();
  if (len > cap || len > 65535 || (src.is_v6() && l4.size() > 65535)) return 0;
  std::memset(out, 0, hlen);
  if (src.is_v4()) {
    out[0] = 0x45;
    store16(out + kIp4Len, uint16_t(len));
    store16(out + kIp4Offset, 0x4000);   // DF
    out[kIp4Ttl] = kTtl;
    out[kIp4Proto] = proto;
    std::memcpy(out + kIp4Src, src.bytes.data(), 4);
    std::memcpy(out + kIp4Dst, dst.bytes.data(), 4);
    store16(out + kIp4Csum, checksum({out, kIp4Hlen}));
  } else {
    out[0] = 0x60;
    store16(out + kIp6Plen, uint16_t(l4.size()));
    out[kIp6Nexth] = proto;
    out[kIp6Hoplim] = kTtl;
    std::memcpy(out + kIp6Src, src.bytes.data(), 16);
    std::memcpy(out + kIp6Dst, dst.bytes.data(), 16);
  }
  if (!l4.empty()) std::memmove(out + hlen, l4.data(), l4.size());
  Parsed p;
  if (parse({out, len}, &p) != ParseStatus::ok) return 0;   // e.g. a UDP length that lies
  if (p.has_l4) fill_l4_checksum(p, {out, len});
  return len;
}

size_t build_udp(const Endpoint& src, const Endpoint& dst, std::span<const uint8_t> payload,
                 uint8_t* out, size_t cap) {
  size_t hlen = src.addr.is_v4() ? kIp4Hlen : kIp6Hlen;
  size_t l4len = kUdpHlen + payload.size();
  if (hlen + l4len > cap || l4len > 65535) return 0;
  // Build the UDP header in place after the IP header; build_ip's memmove is then a no-op.
  uint8_t* u = out + hlen;
  if (!payload.empty()) std::memmove(u + kUdpHlen, payload.data(), payload.size());
  store16(u, src.port);
  store16(u + 2, dst.port);
  store16(u + kUdpLen, uint16_t(l4len));
  store16(u + kUdpCsum, 0);
  return build_ip(src.addr, dst.addr, kProtoUdp, {u, l4len}, out, cap);
}

size_t build_tcp_reset(std::span<const uint8_t> seg, const Parsed& p, uint8_t* out, size_t cap) {
  if (p.l4_proto != kProtoTcp || !p.has_l4 || (p.tcp_flags & kTcpRst) || p.total_len > seg.size()) return 0;
  const uint8_t* t = seg.data() + p.l3_header_len;
  uint32_t seq = load32(t + 4), ack = load32(t + 8);
  size_t thlen = size_t(t[kTcpHdrlenFlags] >> 4) * 4;
  uint32_t seg_len = uint32_t(p.l4_len() - thlen) + ((p.tcp_flags & kTcpSyn) ? 1 : 0) + ((p.tcp_flags & kTcpFin) ? 1 : 0);
  uint8_t r[kTcpHlen] = {};
  store16(r, p.dport);
  store16(r + 2, p.sport);
  if (p.tcp_flags & kTcpAck) {
    store32(r + 4, ack);
    r[13] = kTcpRst;
  } else {
    store32(r + 8, seq + seg_len);
    r[13] = kTcpRst | kTcpAck;
  }
  r[12] = uint8_t((kTcpHlen / 4) << 4);
  return build_ip(p.dst, p.src, kProtoTcp, r, out, cap);
}

size_t build_echo_reply(const IpAddr& from, const IpAddr& to, uint16_t id, uint16_t seq,
                        std::span<const uint8_t> data, uint8_t* out, size_t cap) {
  size_t hlen = from.is_v4() ? kIp4Hlen : kIp6Hlen;
  size_t l4len = kIcmpHlen + data.size();
  if (hlen + l4len > cap) return 0;
  uint8_t* m = out + hlen;
  if (!data.empty()) std::memmove(m + kIcmpHlen, data.data(), data.size());
  m[0] = from.is_v4() ? 0 : 129;
  m[1] = 0;
  store16(m + kIcmpCsum, 0);
  store16(m + 4, id);
  store16(m + 6, seq);
  return build_ip(from, to, from.is_v4() ? kProtoIcmp : kProtoIcmp6, {m, l4len}, out, cap);
}

size_t build_unreachable(std::span<const uint8_t> orig, const IpAddr& from, Unreachable why, uint8_t* out,
                         size_t cap) {
  if (orig.size() < kIp4Hlen) return 0;
  uint8_t version = orig[0] >> 4;
  size_t hlen = version == 4 ? size_t(orig[0] & 0x0f) * 4 : kIp6Hlen;
  if ((version != 4 && version != 6) || orig.size() < hlen + 8) return 0;
  uint8_t proto = version == 4 ? orig[kIp4Proto] : orig[kIp6Nexth];
  if (proto == kProtoIcmp || proto == kProtoIcmp6) return 0;   // never an error about an error
  IpAddr to = version == 4 ? IpAddr::v4(orig.data() + kIp4Src) : IpAddr::v6(orig.data() + kIp6Src);
  uint8_t l4[8 + 576];
  size_t quote = std::min(orig.size(), sizeof l4 - 8);
  std::memset(l4, 0, 8);
  l4[0] = version == 4 ? 3 : 1;   // destination unreachable
  if (why == Unreachable::port) l4[1] = version == 4 ? 3 : 4;
  else l4[1] = version == 4 ? 1 : 3;
  std::memcpy(l4 + 8, orig.data(), quote);
  return build_ip(from, to, version == 4 ? kProtoIcmp : kProtoIcmp6, {l4, 8 + quote}, out, cap);
}

bool parse_echo_request(std::span<const uint8_t> pkt, const Parsed& p, EchoRequest* out) {
  if (!p.has_l4 || p.is_fragment || p.total_len > pkt.size() || p.l4_len() < kIcmpHlen) return false;
  bool v4 = p.family == Family::v4 && p.l4_proto == kProtoIcmp && p.icmp_type == 8;
  bool v6 = p.family == Family::v6 && p.l4_proto == kProtoIcmp6 && p.icmp_type == 128;
  if (!(v4 || v6) || p.icmp_code != 0) return false;
  const uint8_t* m = pkt.data() + p.l3_header_len;
  out->id = load16(m + 4);
  out->seq = load16(m + 6);
  out->data = pkt.subspan(p.l3_header_len + kIcmpHlen, p.l4_len() - kIcmpHlen);
  return true;
}

}  // namespace ptun::packet
