#include "offload/segment.hpp"

#include <algorithm>
#include <cstring>

#include "offload/be.hpp"
#include "packet/checksum.hpp"
#include "packet/parse.hpp"

namespace ptun::offload {
using namespace be;

const char* to_string(SegStatus s) {
  switch (s) {
    case SegStatus::ok: return "ok";
    case SegStatus::bad_gso_type: return "bad_gso_type";
    case SegStatus::bad_packet: return "bad_packet";
    case SegStatus::bad_csum_fields: return "bad_csum_fields";
    case SegStatus::bad_hdr_len: return "bad_hdr_len";
    case SegStatus::bad_gso_size: return "bad_gso_size";
    case SegStatus::too_big: return "too_big";
    case SegStatus::count_: break;
  }
  return "?";
}

SegStatus complete_checksum(const VnetHdr& h, std::span<uint8_t> pkt) {
  if (!(h.flags & kVnetNeedsCsum)) return SegStatus::ok;
  size_t at = size_t(h.csum_start) + h.csum_offset;
  // The field must lie after csum_start, inside pkt, at an even offset from csum_start (both
  // TCP's 16 and UDP's 6 are; an odd one would sum the field shifted).
  if (h.csum_start >= pkt.size() || at + 2 > pkt.size() || (h.csum_offset & 1)) {
    return SegStatus::bad_csum_fields;
  }
  // The field already holds the pseudo-header sum: summing over it folds that in.
  uint16_t c = packet::checksum(pkt.subspan(h.csum_start));
  store16(pkt.data() + at, c);
  return SegStatus::ok;
}

SegStatus Segmenter::start(const VnetHdr& h, std::span<const uint8_t> pkt, size_t max_out) {
  reset();
  if (pkt.empty()) return SegStatus::bad_packet;
  uint8_t type = h.gso_type & uint8_t(~kGsoEcn);
  if (type == kGsoNone) {
    if (h.hdr_len > pkt.size()) return SegStatus::bad_hdr_len;
    if (h.flags & kVnetNeedsCsum) {
      size_t at = size_t(h.csum_start) + h.csum_offset;
      if (h.csum_start >= pkt.size() || at + 2 > pkt.size() || (h.csum_offset & 1))
        return SegStatus::bad_csum_fields;
    }
    if (pkt.size() > max_out) return SegStatus::too_big;
    pkt_ = pkt;
    hdr_ = h;
    gso_ = false;
    total_ = 1;
    return SegStatus::ok;
  }
  if (type != kGsoTcpV4 && type != kGsoTcpV6 && type != kGsoUdpL4) return SegStatus::bad_gso_type;
  if (h.gso_size == 0) return SegStatus::bad_gso_size;
  if (h.hdr_len > pkt.size()) return SegStatus::bad_hdr_len;

  packet::Parsed p;
  if (packet::parse(pkt, &p) != packet::ParseStatus::ok || p.is_fragment || !p.has_l4)
    return SegStatus::bad_packet;
  bool v4 = p.family == Family::v4;
  bool tcp = p.l4_proto == packet::kProtoTcp;
  if (!tcp && p.l4_proto != packet::kProtoUdp) return SegStatus::bad_packet;
  if ((type == kGsoTcpV4 && !(v4 && tcp)) || (type == kGsoTcpV6 && !(!v4 && tcp)) ||
      (type == kGsoUdpL4 && tcp))
    return SegStatus::bad_gso_type;
  if (h.flags & kVnetNeedsCsum) {
    if (h.csum_start != p.l3_header_len || h.csum_offset != (tcp ? kTcpCsum : kUdpCsum))
      return SegStatus::bad_csum_fields;
  }
  // hdr_len is only a hint (the kernel may report its linear head): the headers are what the
  // packet says they are.
  const uint8_t* l4 = pkt.data() + p.l3_header_len;
  size_t l4h = tcp ? size_t(l4[kTcpDoff] >> 4) * 4 : 8;
  size_t hlen = p.l3_header_len + l4h;
  if (hlen > p.total_len) return SegStatus::bad_packet;  // parse() guarantees it; kept local
  size_t payload = p.total_len - hlen;
  if (hlen + std::min<size_t>(h.gso_size, payload) > max_out) return SegStatus::too_big;

  pkt_ = pkt.first(p.total_len);
  hdr_ = h;
  v4_ = v4;
  tcp_ = tcp;
  gso_ = true;
  l3_len_ = p.l3_header_len;
  hlen_ = uint16_t(hlen);
  mss_ = h.gso_size;
  // The pseudo header without its length, from the IP header's addresses (as the kernel's GSO).
  pseudo_base_ = packet::pseudo_header_sum(p, p.l4_proto, 0);
  total_ = payload == 0 ? 1 : (payload + mss_ - 1) / mss_;
  return SegStatus::ok;
}

bool Segmenter::next(PacketBuf* out) {
  if (done()) return false;
  out->reset();
  uint8_t* o = out->data();
  const size_t room = out->cap - out->off;
  if (!gso_) {
    if (pkt_.size() > room) {
      reset();
      return false;
    }
    std::memcpy(o, pkt_.data(), pkt_.size());
    out->len = uint32_t(pkt_.size());
    complete_checksum(hdr_, out->span());  // fields checked in start()
    ++index_;
    return true;
  }
  const size_t payload = pkt_.size() - hlen_;
  const size_t off = index_ * mss_;
  const size_t n = std::min<size_t>(mss_, payload - off);
  const size_t len = hlen_ + n;
  if (len > room) {
    reset();
    return false;
  }
  std::memcpy(o, pkt_.data(), hlen_);
  std::memcpy(o + hlen_, pkt_.data() + hlen_ + off, n);
  const bool first = index_ == 0, last = index_ + 1 == total_;

  if (v4_) {
    store16(o + kIp4TotLen, uint16_t(len));
    store16(o + kIp4Id, uint16_t(load16(o + kIp4Id) + index_));
    store16(o + kIp4Csum, 0);
    store16(o + kIp4Csum, packet::checksum({o, l3_len_}));
  } else {
    store16(o + kIp6Plen, uint16_t(len - 40));
  }
  uint8_t* l4 = o + l3_len_;
  const size_t l4_len = len - l3_len_;
  size_t csum_at;
  if (tcp_) {
    store32(l4 + kTcpSeq, uint32_t(load32(l4 + kTcpSeq) + off));
    if (!last) l4[kTcpFlags] &= uint8_t(~(kTcpFin | kTcpPsh));
    if (!first) l4[kTcpFlags] &= uint8_t(~kTcpCwr);
    csum_at = kTcpCsum;
  } else {
    store16(l4 + kUdpLen, uint16_t(l4_len));
    csum_at = kUdpCsum;
  }
  store16(l4 + csum_at, 0);
  uint32_t sum = pseudo_base_ + uint32_t(l4_len);
  uint16_t c = packet::checksum({l4, l4_len}, sum);
  if (c == 0 && !tcp_) c = 0xffff;  // UDP: 0 means "no checksum"
  store16(l4 + csum_at, c);
  out->len = uint32_t(len);
  ++index_;
  return true;
}

}  // namespace ptun::offload
