#include "offload/vnet_hdr.hpp"

#include <cstring>

namespace ptun::offload {
namespace {
// Host order on purpose (see the header): memcpy of a native uint16_t.
uint16_t load_host16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
void store_host16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
}  // namespace

bool decode_vnet_hdr(std::span<const uint8_t> in, VnetHdr* out) {
  if (in.size() < kVnetHdrLen) return false;
  const uint8_t* p = in.data();
  out->flags = p[0];
  out->gso_type = p[1];
  out->hdr_len = load_host16(p + 2);
  out->gso_size = load_host16(p + 4);
  out->csum_start = load_host16(p + 6);
  out->csum_offset = load_host16(p + 8);
  return true;
}

void encode_vnet_hdr(const VnetHdr& h, uint8_t* out) {
  out[0] = h.flags;
  out[1] = h.gso_type;
  store_host16(out + 2, h.hdr_len);
  store_host16(out + 4, h.gso_size);
  store_host16(out + 6, h.csum_start);
  store_host16(out + 8, h.csum_offset);
}

}  // namespace ptun::offload
