// TUN transmit offload, the merge half (GRO): consecutive in-order TCP segments of one flow in a
// batch of IP packets become one super-packet the kernel takes in a single writev:
//
//   iov[0] = virtio-net header (GSO_TCPV4/6, gso_size, NEEDS_CSUM) + the first segment's IP and
//            TCP headers with lengths patched and the pseudo-header sum in the TCP checksum
//   iov[1..n] = the payload of each segment, in place in its pool buffer (no copy)
//
// Everything else (UDP, ICMP, a lone segment, anything that does not qualify) goes out alone
// behind a zero virtio-net header. Groups come out in the order of their first packet; packets
// of one flow keep their order. Sans-I/O: plan() and build() only read the packets.
//
// A segment joins its flow's open group only if it continues it exactly: same addresses, ports
// and ACK number; IPv4 without options (TOS, TTL, DF equal; ID +1 unless DF), IPv6 without
// extension headers (traffic class, flow label, hop limit equal); ACK set, no SYN/FIN/RST/URG/
// CWR, the other flags equal, PSH only on the last; equal TCP options; sequence number exactly
// continuing; payload equal to the first's (gso_size) except a shorter last one; IP and TCP
// checksums correct (the kernel trusts the checksum of a NEEDS_CSUM packet, so a broken one must
// not hide inside a group: it goes out alone and the kernel drops it as it would have).
#pragma once
#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/buffer_pool.hpp"
#include "offload/vnet_hdr.hpp"

namespace ptun::offload {

inline constexpr size_t kMaxCoalesceBatch = 64;     // packets per plan()
inline constexpr size_t kMaxGroupSegments = 64;     // payload iovecs per writev (IOV_MAX 1024)
inline constexpr size_t kMaxSuperPacket = 65535;    // IPv4 total / IPv6 payload length field
inline constexpr size_t kMaxHeadLen = kVnetHdrLen + 60 + 60;  // vnet + IPv4 w/ options + TCP

class Coalescer {
 public:
  // Groups pkts[0, n) with n = min(pkts.size(), kMaxCoalesceBatch); returns n (the caller plans
  // the rest next). The buffers are borrowed until the next plan().
  size_t plan(std::span<PacketBuf* const> pkts);
  size_t groups() const { return ngroups_; }
  // Packets in group g (1 for a packet that goes out alone).
  size_t group_size(size_t g) const { return groups_[g].count; }
  // The k-th packet of group g, in sequence order.
  PacketBuf* member(size_t g, size_t k) const;
  // The writev vector of group g: header bytes in this object, payloads in the packets. Valid
  // until the next build() or plan().
  std::span<const iovec> build(size_t g);
  // The vector for a packet written alone: a zero virtio-net header, then pkt.
  std::span<const iovec> build_single(const PacketBuf* pkt);

 private:
  struct Info {       // per packet, filled by plan()
    bool tcp;         // parsed as unfragmented TCP: has a flow (addresses, ports)
    bool candidate;   // may join a group
    uint16_t l3_len, tcp_len;
    uint16_t payload;
    uint32_t seq;
    int16_t next;     // next member of the same group, -1 at the end
  };
  struct Group {
    uint16_t first, last, count;
    uint16_t gso_size;
    uint32_t next_seq;
    uint32_t total;   // IP length of the super-packet so far
    bool open;        // more segments may join
  };
  void classify(size_t i);
  bool same_flow(size_t a, size_t b) const;
  bool fits(const Group& g, size_t i) const;

  std::array<PacketBuf*, kMaxCoalesceBatch> pkts_{};
  std::array<Info, kMaxCoalesceBatch> info_{};
  std::array<Group, kMaxCoalesceBatch> groups_{};
  size_t npkts_ = 0, ngroups_ = 0;
  alignas(8) std::array<uint8_t, kMaxHeadLen> head_{};
  std::array<iovec, 1 + kMaxGroupSegments> iov_{};
};

}  // namespace ptun::offload
