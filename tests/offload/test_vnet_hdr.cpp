#include <catch2/catch.hpp>

#include <bit>
#include <cstring>

#include "offload/vnet_hdr.hpp"

using namespace ptun::offload;

TEST_CASE("vnet_hdr: host byte order both ways, short input refused", "[offload]") {
  VnetHdr h;
  h.flags = kVnetNeedsCsum;
  h.gso_type = kGsoTcpV6;
  h.hdr_len = 0x0102;
  h.gso_size = 1448;
  h.csum_start = 40;
  h.csum_offset = 16;
  uint8_t b[kVnetHdrLen];
  encode_vnet_hdr(h, b);
  CHECK(b[0] == 1);
  CHECK(b[1] == 4);
  // The TUN's legacy header is in the host's order (no TUNSETVNETLE/BE).
  if constexpr (std::endian::native == std::endian::little) {
    CHECK((b[2] == 0x02 && b[3] == 0x01));
    CHECK((b[4] == (1448 & 0xff) && b[5] == (1448 >> 8)));
  } else {
    CHECK((b[2] == 0x01 && b[3] == 0x02));
    CHECK((b[4] == (1448 >> 8) && b[5] == (1448 & 0xff)));
  }
  VnetHdr d;
  REQUIRE(decode_vnet_hdr(b, &d));
  CHECK(d.flags == h.flags);
  CHECK(d.gso_type == h.gso_type);
  CHECK(d.hdr_len == h.hdr_len);
  CHECK(d.gso_size == h.gso_size);
  CHECK(d.csum_start == h.csum_start);
  CHECK(d.csum_offset == h.csum_offset);
  CHECK_FALSE(decode_vnet_hdr(std::span<const uint8_t>(b, 9), &d));
}
