#include "packet/parse.hpp"

#include "packet/wire.hpp"

namespace ptun::packet {
namespace {
using namespace wire;

// IpAddr without the out-of-line factory: this runs twice per packet.
inline void set_addr(IpAddr* a, Family f, const uint8_t* p, size_t n) {
  a->family = f;
  a->bytes = {};
  std::memcpy(a->bytes.data(), p, n);
}

// The L4 header at l4[0, avail), avail = IP payload length in this packet (for a first fragment,
// only this fragment's part). Only called when the L4 header should be present (offset 0).
ParseStatus parse_l4(const uint8_t* l4, size_t avail, Parsed* out) {
  switch (out->l4_proto) {
    case kProtoTcp: {
      if (avail < kTcpHlen) return ParseStatus::truncated_l4;
      uint16_t hl_flags = load16(l4 + kTcpHdrlenFlags);
      size_t doff = size_t(hl_flags >> 12) * 4;
      // A first fragment that splits the TCP options is the "tiny fragment" attack (RFC 1858).
      if (doff < kTcpHlen || doff > avail) return ParseStatus::bad_tcp_header;
      out->sport = load16(l4 + kTcpSrc);
      out->dport = load16(l4 + kTcpDst);
      out->tcp_flags = uint8_t(hl_flags);  // the 8 flag bits CWR..FIN
      break;
    }
    case kProtoUdp: {
      if (avail < kUdpHlen) return ParseStatus::truncated_l4;
      // In a fragment the length covers the reassembled datagram, not this piece. A length
      // shorter than the payload is accepted (the rest is IP padding, as Linux trims it).
      size_t ulen = load16(l4 + kUdpLen);
      if (!out->is_fragment && (ulen < kUdpHlen || ulen > avail)) return ParseStatus::bad_udp_length;
      out->sport = load16(l4);
      out->dport = load16(l4 + 2);
      break;
    }
    case kProtoIcmp:
    case kProtoIcmp6: {
      // ICMP over the wrong IP version is just an unknown protocol.
      bool v6 = out->family == Family::v6;
      if (v6 != (out->l4_proto == kProtoIcmp6)) return ParseStatus::ok;
      if (avail < kIcmpHlen) return ParseStatus::truncated_l4;
      out->icmp_type = l4[0];
      out->icmp_code = l4[1];
      bool echo = v6 ? (l4[0] == ICMP6_TYPE_EREQ || l4[0] == ICMP6_TYPE_EREP)
                     : (l4[0] == ICMP_ECHO || l4[0] == ICMP_ER);
      if (echo) out->sport = out->dport = load16(l4 + kIcmpId);
      break;
    }
    default:
      return ParseStatus::ok;  // other protocols: no ports, has_l4 stays false
  }
  out->has_l4 = true;
  return ParseStatus::ok;
}

ParseStatus parse_v4(const uint8_t* b, size_t n, Parsed* out) {
  if (n < kIp4Hlen) return ParseStatus::truncated_header;
  size_t ihl = size_t(b[0] & 0x0f) * 4;
  if (ihl < kIp4Hlen) return ParseStatus::bad_header_length;
  if (ihl > n) return ParseStatus::truncated_header;
  size_t total = load16(b + kIp4Len);
  if (total < ihl || total > n) return ParseStatus::bad_total_length;
  uint16_t frag = load16(b + kIp4Offset);
  size_t frag_off = size_t(frag & IP_OFFMASK) * 8;
  if (frag_off + (total - ihl) > 0xffff) return ParseStatus::bad_fragment;

  out->family = Family::v4;
  set_addr(&out->src, Family::v4, b + kIp4Src, 4);
  set_addr(&out->dst, Family::v4, b + kIp4Dst, 4);
  out->l4_proto = b[kIp4Proto];
  out->l3_header_len = uint16_t(ihl);
  out->total_len = uint16_t(total);
  out->ttl = b[kIp4Ttl];
  out->tos = b[1];
  out->dont_fragment = (frag & IP_DF) != 0;
  out->is_fragment = (frag & IP_MF) != 0 || frag_off != 0;
  out->first_fragment = out->is_fragment && frag_off == 0;
  if (frag_off != 0) return ParseStatus::ok;  // non-first fragment: no L4 header
  return parse_l4(b + ihl, total - ihl, out);
}

ParseStatus parse_v6(const uint8_t* b, size_t n, Parsed* out) {
  if (n < kIp6Hlen) return ParseStatus::truncated_header;
  size_t total = kIp6Hlen + load16(b + kIp6Plen);
  // total_len is 16 bits: jumbograms (RFC 2675) cannot cross a 1500-byte tunnel anyway.
  if (total > n || total > 0xffff) return ParseStatus::bad_total_length;

  out->family = Family::v6;
  set_addr(&out->src, Family::v6, b + kIp6Src, 16);
  set_addr(&out->dst, Family::v6, b + kIp6Dst, 16);
  out->total_len = uint16_t(total);
  out->ttl = b[kIp6Hoplim];
  out->tos = uint8_t(load16(b) >> 4);

  // Walk the extension headers. Every header's fixed part and then its full length are checked
  // against the packet before anything past them is read.
  uint8_t nh = b[kIp6Nexth];
  size_t off = kIp6Hlen;
  unsigned count = 0;
  bool seen_frag = false, non_first_frag = false;
  for (bool more = true; more;) {
    size_t len = 0;
    switch (nh) {
      case kProtoHopByHop:
        if (count != 0) return ParseStatus::bad_ext_header;  // RFC 8200 4.1: only right after IPv6
        [[fallthrough]];
      case kProtoRouting:
      case kProtoDestOpts:
        if (off + 2 > total) return ParseStatus::truncated_ext_header;
        len = (size_t(b[off + 1]) + 1) * 8;
        break;
      case kProtoAh:  // RFC 4302: length in 4-octet units minus 2
        if (off + 2 > total) return ParseStatus::truncated_ext_header;
        len = (size_t(b[off + 1]) + 2) * 4;
        break;
      case kProtoFragment: {
        if (off + IP6_FRAG_HLEN > total) return ParseStatus::truncated_ext_header;
        if (seen_frag) return ParseStatus::bad_ext_header;
        seen_frag = true;
        uint16_t fo = load16(b + off + kIp6FragOffset);
        size_t frag_off = fo & IP6_FRAG_OFFSET_MASK;
        bool m = (fo & IP6_FRAG_MORE_FLAG) != 0;
        size_t frag_payload = total - off - IP6_FRAG_HLEN;
        if (frag_off + frag_payload > 0xffff) return ParseStatus::bad_fragment;
        // An atomic fragment (offset 0, M clear; RFC 6946) is a whole packet.
        if (frag_off != 0 || m) {
          out->is_fragment = true;
          out->first_fragment = frag_off == 0;
          non_first_frag = frag_off != 0;
        }
        len = IP6_FRAG_HLEN;
        break;
      }
      default:  // upper layer, ESP, no-next-header or unknown: the walk ends here
        more = false;
        continue;
    }
    if (++count > kMaxExtHeaders) return ParseStatus::too_many_ext_headers;
    if (off + len > total) return ParseStatus::truncated_ext_header;
    nh = b[off];
    off += len;
    // Past a non-first fragment's header comes fragment data, not headers.
    if (non_first_frag) more = false;
  }
  out->l4_proto = nh;
  out->l3_header_len = uint16_t(off);
  if (non_first_frag) return ParseStatus::ok;
  return parse_l4(b + off, total - off, out);
}

}  // namespace

const char* to_string(ParseStatus s) {
  switch (s) {
    case ParseStatus::ok: return "ok";
    case ParseStatus::empty: return "empty";
    case ParseStatus::bad_version: return "bad_version";
    case ParseStatus::truncated_header: return "truncated_header";
    case ParseStatus::bad_header_length: return "bad_header_length";
    case ParseStatus::bad_total_length: return "bad_total_length";
    case ParseStatus::truncated_ext_header: return "truncated_ext_header";
    case ParseStatus::too_many_ext_headers: return "too_many_ext_headers";
    case ParseStatus::bad_ext_header: return "bad_ext_header";
    case ParseStatus::bad_fragment: return "bad_fragment";
    case ParseStatus::truncated_l4: return "truncated_l4";
    case ParseStatus::bad_tcp_header: return "bad_tcp_header";
    case ParseStatus::bad_udp_length: return "bad_udp_length";
    case ParseStatus::count_: break;
  }
  return "unknown";
}

ParseStatus parse(std::span<const uint8_t> pkt, Parsed* out) {
  *out = Parsed{};
  if (pkt.empty()) return ParseStatus::empty;
  switch (pkt[0] >> 4) {
    case 4: return parse_v4(pkt.data(), pkt.size(), out);
    case 6: return parse_v6(pkt.data(), pkt.size(), out);
    default: return ParseStatus::bad_version;
  }
}

static bool peek_addr(std::span<const uint8_t> pkt, IpAddr* a, size_t off4, size_t off6) {
  if (pkt.empty()) return false;
  unsigned v = pkt[0] >> 4;
  if (v == 4 && pkt.size() >= wire::kIp4Hlen) {
    set_addr(a, Family::v4, pkt.data() + off4, 4);
    return true;
  }
  if (v == 6 && pkt.size() >= wire::kIp6Hlen) {
    set_addr(a, Family::v6, pkt.data() + off6, 16);
    return true;
  }
  return false;
}

bool peek_dst(std::span<const uint8_t> pkt, IpAddr* dst) {
  return peek_addr(pkt, dst, wire::kIp4Dst, wire::kIp6Dst);
}
bool peek_src(std::span<const uint8_t> pkt, IpAddr* src) {
  return peek_addr(pkt, src, wire::kIp4Src, wire::kIp6Src);
}

}  // namespace ptun::packet
