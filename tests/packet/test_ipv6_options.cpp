// IPv6 option TLVs must fit their header before a packet may reach lwIP (fuzz_netstack found
// lwIP 2.1.3 reading past a Destination Options header whose last option was cut short).
#include "packet/ipv6_options.hpp"

#include <catch2/catch.hpp>

#include "packet_builder.hpp"

using namespace ptun;
using namespace ptun::packet;
using namespace ptun::packet::test;

namespace {
// A Destination Options header of 8 bytes with the given 6 option bytes.
Ext dest_opts(Bytes six) {
  Bytes b = {0, 0};
  b.insert(b.end(), six.begin(), six.end());
  return {60, b};
}
bool ok(const Bytes& pkt) {
  Parsed p;
  REQUIRE(parse(pkt, &p) == ParseStatus::ok);
  return ipv6_options_well_formed(pkt, p);
}
}  // namespace

TEST_CASE("IPv6 option TLVs: fitting options pass, cut-short ones fail", "[packet][ipv6]") {
  CHECK(ok(ipv6({}, udp(1, 2, 4))));
  CHECK(ok(ipv4({}, udp(1, 2, 4))));
  CHECK(ok(ipv6({.exts = {dest_opts({1, 4, 0, 0, 0, 0})}}, udp(1, 2, 4))));      // PadN 4
  CHECK(ok(ipv6({.exts = {dest_opts({0, 0, 0, 0, 0, 0})}}, udp(1, 2, 4))));      // Pad1 x6
  CHECK(ok(ipv6({.exts = {ext_opts(0), dest_opts({1, 0, 1, 0, 1, 0})}}, tcp(1, 2, 2))));
  CHECK_FALSE(ok(ipv6({.exts = {dest_opts({1, 5, 0, 0, 0, 0})}}, udp(1, 2, 4))));  // 7 > 6 bytes
  CHECK_FALSE(ok(ipv6({.exts = {dest_opts({0, 0, 0, 0, 0, 3})}}, udp(1, 2, 4))));  // type, no length
  Ext hbh = dest_opts({1, 0, 1, 0, 0, 0x0c});
  hbh.type = 0;
  CHECK_FALSE(ok(ipv6({.exts = {hbh}}, udp(1, 2, 4))));
}

TEST_CASE("TCP options: fitting options pass, cut-short ones fail", "[packet][tcp]") {
  auto ok_tcp = [](Bytes opts) {
    Bytes pkt = ipv4({}, tcp(1, 2, 0x02, std::move(opts)));
    Parsed p;
    REQUIRE(parse(pkt, &p) == ParseStatus::ok);
    return tcp_options_well_formed(pkt, p);
  };
  CHECK(ok_tcp({}));
  CHECK(ok_tcp({2, 4, 5, 0xb4}));                       // MSS
  CHECK(ok_tcp({1, 1, 3, 3, 7, 0, 0, 0}));              // NOP NOP WS, EOL padding
  CHECK(ok_tcp({2, 4, 5, 0xb4, 0, 3, 3}));              // after EOL nothing is read
  CHECK_FALSE(ok_tcp({2, 4, 5, 3, 3, 3, 3, 3}));        // WS, then a kind in the last byte (fuzz find)
  CHECK_FALSE(ok_tcp({2, 8, 5, 0xb4}));                 // length past the header
  CHECK_FALSE(ok_tcp({2, 0, 1, 1}));                    // length below 2
  Bytes u = ipv4({}, udp(1, 2, 4));
  Parsed p;
  REQUIRE(parse(u, &p) == ParseStatus::ok);
  CHECK(tcp_options_well_formed(u, p));
}
