// TUN receive offload, the split half: a super-packet the kernel handed over with a virtio-net
// header (TSO for TCP over IPv4/IPv6, USO for UDP, or a single packet whose checksum is left
// undone) becomes the packets it stands for, each at most gso_size payload bytes, written into
// the caller's pool buffers with every header field a segment of its own needs:
//   IPv4 total length, ID + segment index, header checksum; IPv6 payload length;
//   TCP sequence advanced, FIN/PSH only on the last segment, CWR only on the first;
//   UDP length; the full TCP/UDP checksum of each segment.
// Sans-I/O: bytes in, bytes out. Nothing here trusts the header: every field is checked against
// the packet's own IP/L4 headers (parsed by packet::parse) before a byte is copied.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/buffer_pool.hpp"
#include "offload/vnet_hdr.hpp"

namespace ptun::offload {

// Why a super-packet was refused; counted per cause by callers.
enum class SegStatus : uint8_t {
  ok,
  bad_gso_type,     // gso_type unknown (or UFO), or not matching the packet's IP version / L4
  bad_packet,       // empty; with GSO: the IP packet does not parse, is a fragment, or has
                    // no TCP/UDP header
  bad_csum_fields,  // NEEDS_CSUM with csum_start/csum_offset not on the L4 checksum field
  bad_hdr_len,      // hdr_len beyond the packet
  bad_gso_size,     // gso_size 0
  too_big,          // a segment would not fit the output buffer
  count_
};
const char* to_string(SegStatus);

// Completes a checksum the sender left undone (NEEDS_CSUM without GSO) in place: the field at
// csum_start + csum_offset holds the pseudo-header sum; the ones' complement sum from csum_start
// to the end of pkt goes there. bad_csum_fields if the field is not inside pkt. ok (untouched)
// without NEEDS_CSUM.
SegStatus complete_checksum(const VnetHdr& h, std::span<uint8_t> pkt);

// Splits one super-packet lazily, a segment per next() call, so a caller with fewer buffers than
// segments takes the rest on its next call. The super-packet bytes are borrowed: they must stay
// unchanged until done() or reset().
class Segmenter {
 public:
  // Checks h against pkt. On ok, remaining() segments follow (1 for a packet without GSO, whose
  // checksum is completed on the way out). max_out is the largest packet an output buffer takes
  // (a reset PacketBuf's tailroom): too_big if a segment would be larger. On any other status
  // the segmenter is empty.
  SegStatus start(const VnetHdr& h, std::span<const uint8_t> pkt, size_t max_out);
  // Writes the next segment into out after out->reset(); false if none is left or it does not fit
  // out (then every remaining segment is dropped: the caller counts remaining() before).
  bool next(PacketBuf* out);
  size_t remaining() const { return total_ - index_; }
  bool done() const { return index_ >= total_; }
  void reset() { index_ = total_ = 0; }

 private:
  std::span<const uint8_t> pkt_;  // the super-packet, IP total length only
  VnetHdr hdr_;
  bool v4_ = false, tcp_ = false, gso_ = false;
  uint16_t l3_len_ = 0;   // IP header length incl. IPv6 extension headers
  uint16_t hlen_ = 0;     // l3_len_ + L4 header length
  uint16_t mss_ = 0;      // payload bytes per segment
  uint32_t pseudo_base_ = 0;  // unfolded pseudo-header sum without the L4 length
  size_t total_ = 0, index_ = 0;
};

}  // namespace ptun::offload
