#include "offload/coalesce.hpp"

#include <algorithm>
#include <cstring>

#include "offload/be.hpp"
#include "packet/checksum.hpp"
#include "packet/parse.hpp"

namespace ptun::offload {
using namespace be;

namespace {
constexpr uint8_t kNeverCoalesced = kTcpSyn | kTcpFin | kTcpRst | kTcpUrg | kTcpCwr;
}  // namespace

void Coalescer::classify(size_t i) {
  Info& in = info_[i];
  in = Info{};
  in.next = -1;
  std::span<const uint8_t> pkt = pkts_[i]->span();
  packet::Parsed p;
  if (packet::parse(pkt, &p) != packet::ParseStatus::ok || p.l4_proto != packet::kProtoTcp ||
      !p.has_l4 || p.is_fragment)
    return;
  const uint8_t* l4 = pkt.data() + p.l3_header_len;
  in.tcp = true;
  in.l3_len = p.l3_header_len;
  in.tcp_len = uint16_t((l4[kTcpDoff] >> 4) * 4);
  in.payload = uint16_t(p.total_len - p.l3_header_len - in.tcp_len);
  in.seq = load32(l4 + kTcpSeq);
  const bool v4 = p.family == Family::v4;
  // IPv4 options and IPv6 extension headers would have to be compared too: such packets are rare
  // enough to go alone. Padding past the IP length would end up inside the super-packet.
  if ((v4 ? p.l3_header_len != 20 : p.l3_header_len != 40) || p.total_len != pkt.size()) return;
  if (!(p.tcp_flags & kTcpAckFlag) || (p.tcp_flags & kNeverCoalesced) || in.payload == 0) return;
  if (v4 && !packet::verify_ipv4_header_checksum(pkt)) return;
  if (!packet::verify_l4_checksum(p, pkt)) return;
  in.candidate = true;
}

// Same family, addresses and ports (both TCP).
bool Coalescer::same_flow(size_t a, size_t b) const {
  const Info &ia = info_[a], &ib = info_[b];
  const uint8_t *pa = pkts_[a]->data(), *pb = pkts_[b]->data();
  if ((pa[0] >> 4) != (pb[0] >> 4)) return false;
  const bool v4 = (pa[0] >> 4) == 4;
  if (std::memcmp(pa + (v4 ? 12 : 8), pb + (v4 ? 12 : 8), v4 ? 8 : 32) != 0) return false;
  return std::memcmp(pa + ia.l3_len, pb + ib.l3_len, 4) == 0;
}

bool Coalescer::fits(const Group& g, size_t i) const {
  const Info& in = info_[i];
  const Info& f = info_[g.first];
  const uint8_t* a = pkts_[g.first]->data();
  const uint8_t* b = pkts_[i]->data();
  if (!g.open || !f.candidate || g.count >= kMaxGroupSegments) return false;
  if (in.seq != g.next_seq || in.payload > g.gso_size || g.total + in.payload > kMaxSuperPacket)
    return false;
  if (in.tcp_len != f.tcp_len) return false;
  const uint8_t* ta = a + f.l3_len;
  const uint8_t* tb = b + in.l3_len;
  if (std::memcmp(ta + kTcpAck, tb + kTcpAck, 4) != 0) return false;
  if ((ta[kTcpFlags] & ~kTcpPsh) != (tb[kTcpFlags] & ~kTcpPsh)) return false;
  if (std::memcmp(ta + 20, tb + 20, in.tcp_len - 20) != 0) return false;  // options
  if ((a[0] >> 4) == 4) {
    // TOS, DF (and the reserved bit), TTL equal; without DF the IDs must count up, as the
    // kernel numbers the segments it cuts from the super-packet.
    if (a[1] != b[1] || (a[kIp4Frag] >> 5) != (b[kIp4Frag] >> 5) || a[kIp4Ttl] != b[kIp4Ttl])
      return false;
    const uint8_t* l = pkts_[g.last]->data();
    if (!(b[kIp4Frag] & 0x40) && load16(b + kIp4Id) != uint16_t(load16(l + kIp4Id) + 1))
      return false;
  } else {
    // version, traffic class, flow label; hop limit
    if (std::memcmp(a, b, 4) != 0 || a[kIp6Hoplim] != b[kIp6Hoplim]) return false;
  }
  return true;
}

size_t Coalescer::plan(std::span<PacketBuf* const> pkts) {
  npkts_ = std::min(pkts.size(), kMaxCoalesceBatch);
  ngroups_ = 0;
  for (size_t i = 0; i < npkts_; ++i) {
    pkts_[i] = pkts[i];
    classify(i);
    const Info& in = info_[i];
    // The flow's open group, if any: the newest one (older ones of the flow are closed).
    Group* open = nullptr;
    if (in.tcp) {
      for (size_t g = ngroups_; g-- > 0;) {
        if (groups_[g].open && same_flow(groups_[g].first, i)) {
          open = &groups_[g];
          break;
        }
      }
    }
    if (open && in.candidate && fits(*open, i)) {
      info_[open->last].next = int16_t(i);
      open->last = uint16_t(i);
      ++open->count;
      open->next_seq += in.payload;
      open->total += in.payload;
      const bool psh = pkts_[i]->data()[in.l3_len + kTcpFlags] & kTcpPsh;
      if (psh || in.payload < open->gso_size) open->open = false;
      continue;
    }
    // Anything else of that flow ends its group, so the flow's packets keep their order.
    if (open) open->open = false;
    Group& g = groups_[ngroups_++];
    g = Group{};
    g.first = g.last = uint16_t(i);
    g.count = 1;
    if (in.candidate) {
      g.gso_size = in.payload;
      g.next_seq = in.seq + in.payload;
      g.total = uint32_t(in.l3_len + in.tcp_len + in.payload);
      g.open = !(pkts_[i]->data()[in.l3_len + kTcpFlags] & kTcpPsh);
    }
  }
  return npkts_;
}

PacketBuf* Coalescer::member(size_t g, size_t k) const {
  int idx = groups_[g].first;
  for (; k > 0 && idx >= 0; --k) idx = info_[idx].next;
  return idx >= 0 ? pkts_[idx] : nullptr;
}

std::span<const iovec> Coalescer::build_single(const PacketBuf* pkt) {
  std::memset(head_.data(), 0, kVnetHdrLen);
  iov_[0] = iovec{head_.data(), kVnetHdrLen};
  iov_[1] = iovec{const_cast<uint8_t*>(pkt->data()), pkt->len};
  return {iov_.data(), 2};
}

std::span<const iovec> Coalescer::build(size_t gi) {
  const Group& g = groups_[gi];
  if (g.count == 1) return build_single(pkts_[g.first]);
  const Info& f = info_[g.first];
  const Info& l = info_[g.last];
  const size_t hl = size_t(f.l3_len) + f.tcp_len;
  const uint8_t* first = pkts_[g.first]->data();
  const bool v4 = (first[0] >> 4) == 4;

  VnetHdr h;
  h.flags = kVnetNeedsCsum;
  h.gso_type = v4 ? kGsoTcpV4 : kGsoTcpV6;
  h.hdr_len = uint16_t(hl);
  h.gso_size = g.gso_size;
  h.csum_start = f.l3_len;
  h.csum_offset = kTcpCsum;
  encode_vnet_hdr(h, head_.data());

  uint8_t* ip = head_.data() + kVnetHdrLen;
  std::memcpy(ip, first, hl);
  if (v4) {
    store16(ip + kIp4TotLen, uint16_t(g.total));
    store16(ip + kIp4Csum, 0);
    store16(ip + kIp4Csum, packet::checksum({ip, f.l3_len}));
  } else {
    store16(ip + kIp6Plen, uint16_t(g.total - 40));
  }
  uint8_t* tcp = ip + f.l3_len;
  const uint8_t* last_tcp = pkts_[g.last]->data() + l.l3_len;
  tcp[kTcpFlags] |= last_tcp[kTcpFlags] & kTcpPsh;
  std::memcpy(tcp + kTcpWin, last_tcp + kTcpWin, 2);  // the newest window the sender offered
  // NEEDS_CSUM: the field holds the folded pseudo-header sum (not complemented); the kernel adds
  // the rest when it segments or delivers the packet.
  packet::Parsed p;
  p.family = v4 ? Family::v4 : Family::v6;
  p.src.family = p.dst.family = p.family;
  const size_t alen = v4 ? 4 : 16;
  std::memcpy(p.src.bytes.data(), ip + (v4 ? 12 : 8), alen);
  std::memcpy(p.dst.bytes.data(), ip + (v4 ? 12 : 8) + alen, alen);
  uint32_t sum = packet::pseudo_header_sum(p, packet::kProtoTcp, g.total - f.l3_len);
  store16(tcp + kTcpCsum, uint16_t(~packet::checksum_fold(sum)));

  iov_[0] = iovec{head_.data(), kVnetHdrLen + hl};
  size_t n = 1;
  for (int idx = g.first; idx >= 0; idx = info_[idx].next) {
    const Info& in = info_[idx];
    iov_[n++] = iovec{pkts_[idx]->data() + in.l3_len + in.tcp_len, in.payload};
  }
  return {iov_.data(), n};
}

}  // namespace ptun::offload
