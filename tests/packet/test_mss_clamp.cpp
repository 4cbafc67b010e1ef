#include "packet/mss_clamp.hpp"

#include <catch2/catch.hpp>

#include "packet/checksum.hpp"
#include "packet_builder.hpp"

using namespace ptun;
using namespace ptun::packet;
using namespace ptun::packet::test;

namespace {
Bytes build(bool v6, const L4& l4) { return v6 ? ipv6({}, l4) : ipv4({}, l4); }

// Clamps a copy; returns whether it changed, the copy in *out.
bool clamp(const Bytes& in, uint16_t max_mss, Bytes* out) {
  *out = in;
  Parsed p;
  REQUIRE(parse(*out, &p) == ParseStatus::ok);
  return clamp_mss(*out, p, max_mss);
}
}  // namespace

TEST_CASE("clamp_mss: SYN and SYN-ACK, IPv4 and IPv6, option layouts", "[packet][mss]") {
  const std::vector<std::pair<const char*, Bytes>> layouts = {
      {"mss only", mss_option(1460)},
      {"linux syn", {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7}},
      {"mss at odd offset", {1, 2, 4, 0x05, 0xb4, 1, 1, 1}},
      {"mss last", {1, 3, 3, 7, 4, 2, 1, 2, 4, 0x05, 0xb4, 0}},
      {"mss after timestamps", {1, 1, 8, 10, 9, 9, 9, 9, 0, 0, 0, 0, 1, 2, 4, 0x23, 0x45}},
  };
  for (bool v6 : {false, true}) {
    for (uint8_t flags : {uint8_t(0x02), uint8_t(0x12)}) {
      for (const auto& [name, opts] : layouts) {
        INFO((v6 ? "v6 " : "v4 ") << name << " flags " << int(flags));
        Bytes in = build(v6, tcp(1234, 80, flags, opts, 7));
        Bytes out;
        REQUIRE(clamp(in, 1300, &out));
        Parsed p;
        REQUIRE(parse(out, &p) == ParseStatus::ok);
        CHECK(verify_l4_checksum(p, out));  // the incremental update is right
        // Exactly the two MSS bytes and the two checksum bytes changed.
        size_t diffs = 0;
        for (size_t i = 0; i < in.size(); ++i) diffs += in[i] != out[i];
        CHECK(diffs <= 4);
        // The MSS option now says 1300: find it where the old value was.
        size_t pos = 0;
        for (size_t i = p.l3_header_len + 20; i + 1 < in.size(); ++i)
          if (in[i] == 2 && in[i + 1] == 4) { pos = i + 2; break; }
        REQUIRE(pos != 0);
        CHECK(get16(out, pos) == 1300);
        // A second pass finds nothing left to do.
        Bytes again;
        CHECK_FALSE(clamp(out, 1300, &again));
        CHECK(again == out);
      }
    }
  }
}

TEST_CASE("clamp_mss: incremental checksum equals a full recompute", "[packet][mss]") {
  for (uint16_t mss = 536; mss < 9000; mss += 97) {
    for (bool odd : {false, true}) {
      Bytes opts = odd ? Bytes{1} : Bytes{};
      append(opts, mss_option(mss));
      Bytes in = ipv4({}, tcp(1, 2, 0x02, opts));
      Bytes out;
      bool changed = clamp(in, 1400, &out);
      CHECK(changed == (mss > 1400));
      Parsed p;
      REQUIRE(parse(out, &p) == ParseStatus::ok);
      Bytes full = out;
      REQUIRE(fill_l4_checksum(p, full));
      CHECK(full == out);
    }
  }
}

TEST_CASE("clamp_mss: leaves other packets alone", "[packet][mss]") {
  Bytes out;
  CHECK_FALSE(clamp(ipv4({}, tcp(1, 2, 0x02)), 1000, &out));                       // no options
  CHECK_FALSE(clamp(ipv4({}, tcp(1, 2, 0x02, {1, 1, 3, 3, 7})), 1000, &out));     // no MSS
  CHECK_FALSE(clamp(ipv4({}, tcp(1, 2, 0x02, mss_option(1000))), 1000, &out));    // equal
  CHECK_FALSE(clamp(ipv6({}, tcp(1, 2, 0x02, mss_option(536))), 1220, &out));     // lower
  CHECK_FALSE(clamp(ipv4({}, tcp(1, 2, 0x10, mss_option(1460))), 1000, &out));    // not SYN
  CHECK_FALSE(clamp(ipv4({}, tcp(1, 2, 0x02, {0, 2, 4, 5, 0xb4})), 1000, &out));  // after EOL
  CHECK_FALSE(clamp(ipv4({}, udp(1, 2, 20)), 1000, &out));
  // Malformed options: zero length (would loop forever), running past the header.
  CHECK_FALSE(clamp(ipv4({}, tcp(1, 2, 0x02, {8, 0, 2, 4, 5, 0xb4, 0, 0})), 1000, &out));
  CHECK_FALSE(clamp(ipv4({}, tcp(1, 2, 0x02, {1, 1, 8, 10})), 1000, &out));
  CHECK_FALSE(clamp(ipv4({}, tcp(1, 2, 0x02, {1, 1, 1, 2})), 1000, &out));
  // An MSS option of the wrong length is not an MSS option.
  CHECK_FALSE(clamp(ipv4({}, tcp(1, 2, 0x02, {2, 3, 5, 1})), 100, &out));
  // A non-first fragment has no TCP header to clamp.
  V4 frag;
  frag.frag_units = 3;
  Bytes f = ipv4(frag, raw(6, tcp(1, 2, 0x02, mss_option(1460)).bytes));
  CHECK_FALSE(clamp(f, 1000, &out));
  CHECK(out == f);
}

TEST_CASE("mss_for_mtu", "[packet][mss]") {
  CHECK(mss_for_mtu(Family::v4, 1500) == 1460);
  CHECK(mss_for_mtu(Family::v6, 1500) == 1440);
  CHECK(mss_for_mtu(Family::v6, 1280) == 1220);
  CHECK(mss_for_mtu(Family::v4, 40) == 0);
  CHECK(mss_for_mtu(Family::v6, 59) == 0);
}
