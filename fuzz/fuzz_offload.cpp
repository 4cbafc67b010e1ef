// Fuzzes the TUN offload code the way the device uses it: the input is a virtio-net header and
// the bytes after it, as read from the TUN. Segment (every segment must fit its buffer; with GSO
// each must parse and carry a correct L4 checksum), then coalesce the segments and build every
// group (each super-packet, its checksum completed as the kernel would, must parse and verify;
// lengths within 64 KiB; every packet in exactly one group). Invariants abort.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "offload/coalesce.hpp"
#include "offload/segment.hpp"
#include "packet/checksum.hpp"
#include "packet/parse.hpp"

using namespace ptun;
using namespace ptun::offload;

#define CHECK_OR_ABORT(c) \
  do {                    \
    if (!(c)) abort();    \
  } while (0)

namespace {
constexpr size_t kMaxOut = limits::kPacketBufSize - limits::kHeadroom;
BufferPool& pool() {
  static BufferPool p(kMaxCoalesceBatch);
  return p;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  VnetHdr h;
  if (!decode_vnet_hdr({data, size}, &h)) return 0;
  // A private copy: the segmenter borrows the bytes, libFuzzer's buffer is exactly sized so
  // ASan sees any read past the packet.
  std::vector<uint8_t> sp(data + kVnetHdrLen, data + size);
  Segmenter seg;
  if (seg.start(h, sp, kMaxOut) != SegStatus::ok) {
    CHECK_OR_ABORT(seg.done());
    return 0;
  }
  const bool gso = (h.gso_type & ~kGsoEcn) != kGsoNone;
  std::vector<PacketBuf*> out;
  while (!seg.done() && out.size() < kMaxCoalesceBatch) {
    PacketBuf* b = pool().get();
    CHECK_OR_ABORT(b != nullptr);
    CHECK_OR_ABORT(seg.next(b));
    CHECK_OR_ABORT(b->off == limits::kHeadroom && b->len <= kMaxOut);
    if (gso) {
      packet::Parsed p;
      CHECK_OR_ABORT(packet::parse(b->span(), &p) == packet::ParseStatus::ok);
      CHECK_OR_ABORT(packet::verify_l4_checksum(p, b->span()));
      if (p.family == Family::v4) CHECK_OR_ABORT(packet::verify_ipv4_header_checksum(b->span()));
    }
    out.push_back(b);
  }

  Coalescer c;
  size_t n = c.plan(out);
  CHECK_OR_ABORT(n == out.size());
  size_t members = 0;
  for (size_t g = 0; g < c.groups(); ++g) {
    members += c.group_size(g);
    auto v = c.build(g);
    CHECK_OR_ABORT(v.size() == 1 + c.group_size(g) || (c.group_size(g) == 1 && v.size() == 2));
    std::vector<uint8_t> bytes;
    for (const iovec& i : v) {
      auto* p = static_cast<const uint8_t*>(i.iov_base);
      bytes.insert(bytes.end(), p, p + i.iov_len);
    }
    CHECK_OR_ABORT(bytes.size() >= kVnetHdrLen && bytes.size() <= kVnetHdrLen + kMaxSuperPacket);
    if (c.group_size(g) == 1) continue;
    VnetHdr sh;
    CHECK_OR_ABORT(decode_vnet_hdr(bytes, &sh) && sh.flags == kVnetNeedsCsum);
    std::span<uint8_t> pkt(bytes.data() + kVnetHdrLen, bytes.size() - kVnetHdrLen);
    // What the kernel does with NEEDS_CSUM, then the whole must be a valid TCP packet.
    CHECK_OR_ABORT(complete_checksum(sh, pkt) == SegStatus::ok);
    packet::Parsed p;
    CHECK_OR_ABORT(packet::parse(pkt, &p) == packet::ParseStatus::ok);
    CHECK_OR_ABORT(p.total_len == pkt.size() && p.l4_proto == packet::kProtoTcp);
    CHECK_OR_ABORT(packet::verify_l4_checksum(p, pkt));
    // And it must split back into its members.
    Segmenter back;
    CHECK_OR_ABORT(back.start(sh, pkt, kMaxOut) == SegStatus::ok);
    CHECK_OR_ABORT(back.remaining() == c.group_size(g));
  }
  CHECK_OR_ABORT(members == n);
  for (PacketBuf* b : out) pool().put(b);
  return 0;
}
