// Packets ptun builds itself (userspace forwarding): they parse back, checksums verify, and the
// TCP reset follows RFC 9293's rules for both SEQ/ACK cases.
#include "packet/build.hpp"

#include <catch2/catch.hpp>

#include "packet/checksum.hpp"
#include "packet_builder.hpp"

using namespace ptun;
using namespace ptun::packet;
using namespace ptun::packet::test;

namespace {
Parsed parsed(std::span<const uint8_t> b) {
  Parsed p;
  REQUIRE(parse(b, &p) == ParseStatus::ok);
  return p;
}
uint32_t get32(const uint8_t* p) { return uint32_t(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
}  // namespace

TEST_CASE("build_udp: v4 and v6 parse back with valid checksums", "[packet][build]") {
  for (bool v6 : {false, true}) {
    Endpoint src{addr(v6 ? "2001:db8::53" : "192.0.2.53"), 53};
    Endpoint dst{addr(v6 ? "fd99::2" : "10.99.0.2"), 40000};
    Bytes data = payload(300);
    Bytes out(2048);
    size_t n = build_udp(src, dst, data, out.data(), out.size());
    REQUIRE(n == (v6 ? 40u : 20u) + 8 + 300);
    Parsed p = parsed({out.data(), n});
    CHECK(p.src == src.addr);
    CHECK(p.dst == dst.addr);
    CHECK(p.sport == 53);
    CHECK(p.dport == 40000);
    CHECK(p.l4_proto == 17);
    CHECK(verify_l4_checksum(p, {out.data(), n}));
    if (!v6) CHECK(verify_ipv4_header_checksum({out.data(), n}));
    CHECK(Bytes(out.begin() + long(n - 300), out.begin() + long(n)) == data);
  }
}

TEST_CASE("build_udp: too small a buffer or mixed families give 0", "[packet][build]") {
  Bytes out(100);
  Bytes data = payload(80);
  CHECK(build_udp({addr("10.0.0.1"), 1}, {addr("10.0.0.2"), 2}, data, out.data(), out.size()) == 0);
  CHECK(build_udp({addr("10.0.0.1"), 1}, {addr("fd00::2"), 2}, {}, out.data(), out.size()) == 0);
  CHECK(build_udp({addr("10.0.0.1"), 1}, {addr("10.0.0.2"), 2}, {}, out.data(), out.size()) == 28);
}

TEST_CASE("build_tcp_reset answers a SYN with RST|ACK, ack = seq + 1", "[packet][build]") {
  Bytes syn = ipv4({}, tcp(40000, 80, 0x02));
  Parsed p = parsed(syn);
  Bytes out(128);
  size_t n = build_tcp_reset(syn, p, out.data(), out.size());
  REQUIRE(n == 40);
  Parsed r = parsed({out.data(), n});
  CHECK(r.src == p.dst);
  CHECK(r.dst == p.src);
  CHECK(r.sport == 80);
  CHECK(r.dport == 40000);
  CHECK(r.tcp_flags == 0x14);
  CHECK(get32(out.data() + 20 + 4) == 0);
  CHECK(get32(out.data() + 20 + 8) == 0x12345678u + 1);
  CHECK(verify_l4_checksum(r, {out.data(), n}));
}

TEST_CASE("build_tcp_reset answers an ACK segment with RST, seq = its ack", "[packet][build]") {
  Bytes seg = ipv6({}, tcp(40000, 443, 0x18, {}, 100));   // PSH|ACK with 100 bytes
  Parsed p = parsed(seg);
  Bytes out(128);
  size_t n = build_tcp_reset(seg, p, out.data(), out.size());
  REQUIRE(n == 60);
  Parsed r = parsed({out.data(), n});
  CHECK(r.tcp_flags == 0x04);
  CHECK(get32(out.data() + 40 + 4) == 0x00000001u);
  CHECK(verify_l4_checksum(r, {out.data(), n}));
  SECTION("never a reset for a reset, nor for non-TCP") {
    Bytes rst = ipv4({}, tcp(1, 2, 0x04));
    CHECK(build_tcp_reset(rst, parsed(rst), out.data(), out.size()) == 0);
    Bytes u = ipv4({}, udp(1, 2, 4));
    CHECK(build_tcp_reset(u, parsed(u), out.data(), out.size()) == 0);
  }
}

TEST_CASE("echo request round trip: parse_echo_request and build_echo_reply", "[packet][build]") {
  for (bool v6 : {false, true}) {
    Bytes req = v6 ? ipv6({}, icmp(true, 128, 0, 0x4242, 7, 56)) : ipv4({}, icmp(false, 8, 0, 0x4242, 7, 56));
    Parsed p = parsed(req);
    EchoRequest e;
    REQUIRE(parse_echo_request(req, p, &e));
    CHECK(e.id == 0x4242);
    CHECK(e.seq == 7);
    CHECK(e.data.size() == 56);
    Bytes out(256);
    size_t n = build_echo_reply(p.dst, p.src, e.id, e.seq, e.data, out.data(), out.size());
    REQUIRE(n == req.size());
    Parsed r = parsed({out.data(), n});
    CHECK(r.icmp_type == (v6 ? 129 : 0));
    CHECK(r.sport == 0x4242);
    CHECK(verify_l4_checksum(r, {out.data(), n}));
    CHECK(Bytes(out.begin() + long(n - 56), out.begin() + long(n)) == Bytes(req.end() - 56, req.end()));
  }
  Bytes reply = ipv4({}, icmp(false, 0, 0, 1, 1, 8));
  EchoRequest e;
  CHECK_FALSE(parse_echo_request(reply, parsed(reply), &e));
}

TEST_CASE("build_port_unreachable quotes the datagram, to its sender", "[packet][build]") {
  for (bool v6 : {false, true}) {
    Bytes dgram = v6 ? ipv6({}, udp(40000, 53, 30)) : ipv4({}, udp(40000, 53, 30));
    Parsed p = parsed(dgram);
    Bytes out(1500);
    size_t n = build_port_unreachable(dgram, p.dst, out.data(), out.size());
    REQUIRE(n == (v6 ? 40u : 20u) + 8 + dgram.size());
    Parsed r = parsed({out.data(), n});
    CHECK(r.src == p.dst);
    CHECK(r.dst == p.src);
    CHECK(r.icmp_type == (v6 ? 1 : 3));
    CHECK(r.icmp_code == (v6 ? 4 : 3));
    CHECK(verify_l4_checksum(r, {out.data(), n}));
    CHECK(Bytes(out.begin() + long(n - dgram.size()), out.begin() + long(n)) == dgram);
  }
  Bytes ping = ipv4({}, icmp(false, 8, 0, 1, 1, 8));
  Bytes out(1500);
  CHECK(build_port_unreachable(ping, addr("10.0.0.2"), out.data(), out.size()) == 0);
  CHECK(build_port_unreachable(Bytes(10, 0x45), addr("10.0.0.2"), out.data(), out.size()) == 0);
}

TEST_CASE("build_unreachable: host unreachable codes", "[packet][build]") {
  Bytes syn4 = ipv4({}, tcp(40000, 80, 0x02));
  Bytes syn6 = ipv6({}, tcp(40000, 80, 0x02));
  Bytes out(1500);
  size_t n = build_unreachable(syn4, addr("10.0.0.2"), Unreachable::host, out.data(), out.size());
  REQUIRE(n > 0);
  Parsed r = parsed({out.data(), n});
  CHECK(r.icmp_type == 3);
  CHECK(r.icmp_code == 1);
  n = build_unreachable(syn6, addr("fd00::2"), Unreachable::host, out.data(), out.size());
  REQUIRE(n > 0);
  r = parsed({out.data(), n});
  CHECK(r.icmp_type == 1);
  CHECK(r.icmp_code == 3);
  CHECK(verify_l4_checksum(r, {out.data(), n}));
}
