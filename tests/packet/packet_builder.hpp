// Hand-built IPv4/IPv6 packets for the packet module's tests. Deliberately naive and independent
// of src/packet: byte-by-byte layouts and a textbook checksum, so the tests check the module
// against a separate reference rather than against itself.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "common/net_addr.hpp"

namespace ptun::packet::test {

using Bytes = std::vector<uint8_t>;

inline void put16(Bytes& b, size_t off, uint16_t v) {
  b[off] = uint8_t(v >> 8);
  b[off + 1] = uint8_t(v);
}
inline uint16_t get16(const Bytes& b, size_t off) { return uint16_t(b[off] << 8 | b[off + 1]); }
inline void append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

// RFC 1071 the slow way: 16-bit big-endian words, one at a time.
inline uint16_t ref_checksum(const Bytes& data) {
  uint32_t sum = 0;
  for (size_t i = 0; i < data.size(); i += 2) {
    uint32_t w = uint32_t(data[i]) << 8;
    if (i + 1 < data.size()) w |= data[i + 1];
    sum += w;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  }
  return uint16_t(~sum & 0xffff);
}

inline IpAddr addr(const char* s) { return IpAddr::parse(s).value(); }

// An L4 header plus payload, checksum field zero (the IP builders fill it).
struct L4 {
  uint8_t proto = 0;
  Bytes bytes;
  size_t csum_off = SIZE_MAX;  // where the checksum goes, SIZE_MAX for none
};

inline Bytes payload(size_t n, uint8_t seed = 0x40) {
  Bytes p(n);
  for (size_t i = 0; i < n; ++i) p[i] = uint8_t(seed + i * 7);
  return p;
}

inline L4 tcp(uint16_t sport, uint16_t dport, uint8_t flags, Bytes options = {}, size_t len = 0) {
  while (options.size() % 4) options.push_back(0);  // EOL padding
  Bytes b(20);
  put16(b, 0, sport);
  put16(b, 2, dport);
  put16(b, 4, 0x1234);
  put16(b, 6, 0x5678);  // seq
  put16(b, 10, 0x0001); // ack
  b[12] = uint8_t(((20 + options.size()) / 4) << 4);
  b[13] = flags;
  put16(b, 14, 65535);
  append(b, options);
  append(b, payload(len));
  return {6, b, 16};
}
inline Bytes mss_option(uint16_t mss) { return {2, 4, uint8_t(mss >> 8), uint8_t(mss)}; }

inline L4 udp(uint16_t sport, uint16_t dport, size_t len = 0) {
  Bytes b(8);
  put16(b, 0, sport);
  put16(b, 2, dport);
  put16(b, 4, uint16_t(8 + len));
  append(b, payload(len));
  return {17, b, 6};
}

inline L4 icmp(bool v6, uint8_t type, uint8_t code, uint16_t id, uint16_t seq, size_t len = 0) {
  Bytes b(8);
  b[0] = type;
  b[1] = code;
  put16(b, 4, id);
  put16(b, 6, seq);
  append(b, payload(len));
  return {uint8_t(v6 ? 58 : 1), b, 2};
}

inline L4 raw(uint8_t proto, Bytes bytes) { return {proto, std::move(bytes), SIZE_MAX}; }

struct V4 {
  IpAddr src = addr("10.0.0.1"), dst = addr("10.0.0.2");
  uint8_t ttl = 64, tos = 0;
  bool df = true, mf = false;
  uint16_t frag_units = 0;  // fragment offset in 8-byte units
  Bytes options;            // IP options, padded to 4 bytes
  bool l4_csum = true;      // fill the L4 checksum (over this packet's L4 bytes)
};

inline Bytes ipv4(V4 o, const L4& l4) {
  while (o.options.size() % 4) o.options.push_back(0);
  size_t ihl = 20 + o.options.size();
  Bytes h(20);
  h[0] = uint8_t(0x40 | ihl / 4);
  h[1] = o.tos;
  put16(h, 2, uint16_t(ihl + l4.bytes.size()));
  put16(h, 4, 0xbeef);
  put16(h, 6, uint16_t((o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | o.frag_units));
  h[8] = o.ttl;
  h[9] = l4.proto;
  std::copy_n(o.src.bytes.begin(), 4, h.begin() + 12);
  std::copy_n(o.dst.bytes.begin(), 4, h.begin() + 16);
  append(h, o.options);
  put16(h, 10, ref_checksum(h));
  Bytes seg = l4.bytes;
  if (o.l4_csum && l4.csum_off != SIZE_MAX) {
    Bytes sum;  // pseudo header (RFC 793), none for ICMP
    if (l4.proto != 1) {
      sum.assign(o.src.bytes.begin(), o.src.bytes.begin() + 4);
      sum.insert(sum.end(), o.dst.bytes.begin(), o.dst.bytes.begin() + 4);
      sum.push_back(0);
      sum.push_back(l4.proto);
      sum.push_back(uint8_t(seg.size() >> 8));
      sum.push_back(uint8_t(seg.size()));
    }
    append(sum, seg);
    uint16_t c = ref_checksum(sum);
    put16(seg, l4.csum_off, c == 0 && l4.proto == 17 ? 0xffff : c);
  }
  append(h, seg);
  return h;
}

// One IPv6 extension header; byte 0 (next header) is filled in by ipv6().
struct Ext {
  uint8_t type;
  Bytes bytes;
};
// Hop-by-hop (0), routing (43) or destination options (60) of `units` 8-octet units, padded
// with a PadN option.
inline Ext ext_opts(uint8_t type, uint8_t units = 1) {
  Bytes b(size_t(units) * 8, 0);
  b[1] = uint8_t(units - 1);
  b[2] = 1;  // PadN
  b[3] = uint8_t(b.size() - 4);
  return {type, b};
}
inline Ext ext_frag(uint16_t offset_units, bool more, uint32_t id = 0x01020304) {
  Bytes b(8, 0);
  put16(b, 2, uint16_t(offset_units << 3 | (more ? 1 : 0)));
  put16(b, 4, uint16_t(id >> 16));
  put16(b, 6, uint16_t(id));
  return {44, b};
}
// Authentication header of `len4` 4-octet units in all (>= 3 in practice; length field len4-2).
inline Ext ext_ah(uint8_t len4 = 6) {
  Bytes b(size_t(len4) * 4, 0);
  b[1] = uint8_t(len4 - 2);
  return {51, b};
}

struct V6 {
  IpAddr src = addr("fd00::1"), dst = addr("fd00::2");
  uint8_t hop = 64;
  std::vector<Ext> exts;
  bool l4_csum = true;
};

inline Bytes ipv6(const V6& o, const L4& l4) {
  Bytes exts;
  for (size_t i = 0; i < o.exts.size(); ++i) {
    Bytes e = o.exts[i].bytes;
    e[0] = i + 1 < o.exts.size() ? o.exts[i + 1].type : l4.proto;
    append(exts, e);
  }
  Bytes h(40, 0);
  h[0] = 0x60;
  put16(h, 4, uint16_t(exts.size() + l4.bytes.size()));
  h[6] = o.exts.empty() ? l4.proto : o.exts[0].type;
  h[7] = o.hop;
  std::copy(o.src.bytes.begin(), o.src.bytes.end(), h.begin() + 8);
  std::copy(o.dst.bytes.begin(), o.dst.bytes.end(), h.begin() + 24);
  Bytes seg = l4.bytes;
  if (o.l4_csum && l4.csum_off != SIZE_MAX) {
    Bytes sum(o.src.bytes.begin(), o.src.bytes.end());  // pseudo header (RFC 8200 8.1)
    sum.insert(sum.end(), o.dst.bytes.begin(), o.dst.bytes.end());
    uint32_t n = uint32_t(seg.size());
    for (int s = 24; s >= 0; s -= 8) sum.push_back(uint8_t(n >> s));
    sum.insert(sum.end(), {0, 0, 0, l4.proto});
    append(sum, seg);
    uint16_t c = ref_checksum(sum);
    put16(seg, l4.csum_off, c == 0 && l4.proto == 17 ? 0xffff : c);
  }
  append(h, exts);
  append(h, seg);
  return h;
}

}  // namespace ptun::packet::test
