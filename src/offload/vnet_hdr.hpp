// The virtio-net header a TUN opened with IFF_VNET_HDR puts in front of every packet
// (struct virtio_net_hdr, <linux/virtio_net.h>, 10 bytes): GSO type and segment size of a
// super-packet, and where a checksum the sender left undone goes.
//
// Byte order: a TUN uses the host's order for the 16-bit fields unless TUNSETVNETLE/BE was set
// (tun_is_little_endian() falls back to virtio_legacy_is_little_endian(), i.e. the host). ptun
// never sets either, so the fields are read and written in host order: little-endian on x86 and
// ARM, big-endian on the MIPS routers. The packet bytes after the header are network order.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace ptun::offload {

inline constexpr size_t kVnetHdrLen = 10;

// flags
inline constexpr uint8_t kVnetNeedsCsum = 1;  // csum_start/csum_offset name an undone checksum
inline constexpr uint8_t kVnetDataValid = 2;  // checksum already verified (receive side only)
// gso_type (low 7 bits) and the ECN bit. GSO_UDP_L4 (USO, Linux 6.2) is newer than Debian 12's
// uapi headers, hence the numbers here.
inline constexpr uint8_t kGsoNone = 0;
inline constexpr uint8_t kGsoTcpV4 = 1;
inline constexpr uint8_t kGsoUdp = 3;  // UFO: IP fragmentation, never negotiated by ptun
inline constexpr uint8_t kGsoTcpV6 = 4;
inline constexpr uint8_t kGsoUdpL4 = 5;
inline constexpr uint8_t kGsoEcn = 0x80;

struct VnetHdr {
  uint8_t flags = 0;
  uint8_t gso_type = 0;
  uint16_t hdr_len = 0;      // IP + L4 headers (a hint: the kernel may report more)
  uint16_t gso_size = 0;     // payload bytes per segment
  uint16_t csum_start = 0;   // offset of the L4 header
  uint16_t csum_offset = 0;  // offset of the checksum field from csum_start
};

// Reads the header from in[0, 10) in host order. False if in is shorter.
bool decode_vnet_hdr(std::span<const uint8_t> in, VnetHdr* out);
// Writes the header to out[0, 10) in host order.
void encode_vnet_hdr(const VnetHdr& h, uint8_t* out);

}  // namespace ptun::offload
