#include <catch2/catch.hpp>

#include <vector>

#include "offload/segment.hpp"
#include "offload/tcp_packets.hpp"

using namespace ptun;
using namespace ptun::offload;
using namespace ptun::test;

namespace {

constexpr size_t kMaxOut = limits::kPacketBufSize - limits::kHeadroom;

// A TSO super-packet as the kernel hands it over: checksums partial, lengths of the whole.
std::vector<uint8_t> super_tcp(const TcpSpec& s, std::span<const uint8_t> payload, VnetHdr* h,
                               uint16_t mss) {
  std::vector<uint8_t> p = tcp_packet(s, payload);
  make_partial(p, 6);
  h->flags = kVnetNeedsCsum;
  h->gso_type = s.src.is_v4() ? kGsoTcpV4 : kGsoTcpV6;
  h->csum_start = uint16_t(l3_len(p));
  h->csum_offset = 16;
  h->hdr_len = uint16_t(l3_len(p) + 20 + s.options.size());
  h->gso_size = mss;
  return p;
}

struct Segs {
  BufferPool pool{128};
  std::vector<PacketBuf*> out;
  ~Segs() {
    for (PacketBuf* b : out) pool.put(b);
  }
  // All segments of a started segmenter.
  void drain(Segmenter& s) {
    while (!s.done()) {
      PacketBuf* b = pool.get();
      REQUIRE(b);
      REQUIRE(s.next(b));
      out.push_back(b);
    }
  }
};

uint32_t seq_of(const PacketBuf* b) {
  const uint8_t* t = b->data() + l3_len(b->span());
  return uint32_t(get16(t + 4)) << 16 | get16(t + 6);
}
uint8_t flags_of(const PacketBuf* b) { return b->data()[l3_len(b->span()) + 13]; }

}  // namespace

TEST_CASE("segment: TCPv4 super-packet into MSS segments with their own headers", "[offload]") {
  TcpSpec s;
  s.flags = 0x10 | 0x08 | 0x01 | 0x80;  // ACK PSH FIN CWR
  s.ip_id = 0xfffe;                     // wraps during the split
  s.seq = 0xfffff000;                   // wraps too
  std::vector<uint8_t> payload = pattern(4500);
  VnetHdr h;
  std::vector<uint8_t> sp = super_tcp(s, payload, &h, 1448);
  h.hdr_len = 54;  // the kernel may report more than the headers: only a hint

  Segmenter seg;
  REQUIRE(seg.start(h, sp, kMaxOut) == SegStatus::ok);
  REQUIRE(seg.remaining() == 4);
  Segs r;
  r.drain(seg);
  REQUIRE(r.out.size() == 4);
  std::vector<uint8_t> joined;
  for (size_t i = 0; i < 4; ++i) {
    PacketBuf* b = r.out[i];
    auto p = b->span();
    CHECK(b->off == limits::kHeadroom);
    size_t n = i < 3 ? 1448 : 4500 - 3 * 1448;
    REQUIRE(p.size() == 40 + n);
    CHECK(get16(&p[2]) == 40 + n);
    CHECK(get16(&p[4]) == uint16_t(0xfffe + i));
    CHECK(ip4_ok(p));
    CHECK(l4_ok(p, 6));
    CHECK(seq_of(b) == uint32_t(0xfffff000u + i * 1448));
    uint8_t f = flags_of(b);
    CHECK((f & 0x10) != 0);
    CHECK(((f & 0x80) != 0) == (i == 0));   // CWR on the first only
    CHECK(((f & 0x09) != 0) == (i == 3));   // FIN, PSH on the last only
    CHECK(((f & 0x09) == 0x09) == (i == 3));
    joined.insert(joined.end(), p.begin() + 40, p.end());
  }
  CHECK(joined == payload);
}

TEST_CASE("segment: TCPv6 with options, payload an exact multiple", "[offload]") {
  TcpSpec s;
  s.src = *IpAddr::parse("fd00::1");
  s.dst = *IpAddr::parse("fd00::2");
  s.options = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};  // NOP NOP timestamps
  s.flags = 0x18;
  std::vector<uint8_t> payload = pattern(3 * 1208, 3);
  VnetHdr h;
  std::vector<uint8_t> sp = super_tcp(s, payload, &h, 1208);
  Segmenter seg;
  REQUIRE(seg.start(h, sp, kMaxOut) == SegStatus::ok);
  Segs r;
  r.drain(seg);
  REQUIRE(r.out.size() == 3);
  std::vector<uint8_t> joined;
  for (size_t i = 0; i < 3; ++i) {
    auto p = r.out[i]->span();
    REQUIRE(p.size() == 40 + 32 + 1208);
    CHECK(get16(&p[4]) == 32 + 1208);
    CHECK(l4_ok(p, 6));
    CHECK(std::equal(s.options.begin(), s.options.end(), p.begin() + 60));
    CHECK(((flags_of(r.out[i]) & 0x08) != 0) == (i == 2));
    joined.insert(joined.end(), p.begin() + 72, p.end());
  }
  CHECK(joined == payload);
}

TEST_CASE("segment: UDP GSO (USO) over IPv4 and IPv6", "[offload]") {
  for (const char* src : {"10.1.1.1", "fd00::a"}) {
    IpAddr a = *IpAddr::parse(src);
    IpAddr b = *IpAddr::parse(a.is_v4() ? "10.1.1.2" : "fd00::b");
    std::vector<uint8_t> payload = pattern(2500, 9);
    std::vector<uint8_t> sp = udp_packet(a, b, 5000, 53, payload);
    make_partial(sp, 17);
    VnetHdr h;
    h.flags = kVnetNeedsCsum;
    h.gso_type = kGsoUdpL4;
    h.csum_start = uint16_t(l3_len(sp));
    h.csum_offset = 6;
    h.hdr_len = uint16_t(l3_len(sp) + 8);
    h.gso_size = 1000;
    Segmenter seg;
    REQUIRE(seg.start(h, sp, kMaxOut) == SegStatus::ok);
    Segs r;
    r.drain(seg);
    REQUIRE(r.out.size() == 3);
    std::vector<uint8_t> joined;
    for (size_t i = 0; i < 3; ++i) {
      auto p = r.out[i]->span();
      size_t l3 = l3_len(p), n = i < 2 ? 1000 : 500;
      REQUIRE(p.size() == l3 + 8 + n);
      CHECK(get16(&p[l3 + 4]) == 8 + n);
      CHECK(get16(&p[l3 + 6]) != 0);
      CHECK(l4_ok(p, 17));
      if (a.is_v4()) CHECK(ip4_ok(p));
      joined.insert(joined.end(), p.begin() + l3 + 8, p.end());
    }
    CHECK(joined == payload);
  }
}

TEST_CASE("segment: NEEDS_CSUM without GSO completes the checksum", "[offload]") {
  TcpSpec s;
  std::vector<uint8_t> payload = pattern(300);
  std::vector<uint8_t> p = tcp_packet(s, payload);
  std::vector<uint8_t> good = p;
  make_partial(p, 6);
  CHECK_FALSE(l4_ok(p, 6));
  VnetHdr h;
  h.flags = kVnetNeedsCsum;
  h.csum_start = 20;
  h.csum_offset = 16;
  // In place, as the TUN device does for packets read straight into a pool buffer.
  std::vector<uint8_t> in_place = p;
  REQUIRE(complete_checksum(h, in_place) == SegStatus::ok);
  CHECK(in_place == good);
  // Through the segmenter: one packet, copied and completed.
  Segmenter seg;
  REQUIRE(seg.start(h, p, kMaxOut) == SegStatus::ok);
  Segs r;
  r.drain(seg);
  REQUIRE(r.out.size() == 1);
  CHECK(std::vector<uint8_t>(r.out[0]->span().begin(), r.out[0]->span().end()) == good);
  // A zero header passes the packet through untouched.
  REQUIRE(seg.start(VnetHdr{}, p, kMaxOut) == SegStatus::ok);
  PacketBuf* b = r.pool.get();
  REQUIRE(seg.next(b));
  CHECK(std::equal(p.begin(), p.end(), b->data()));
  r.pool.put(b);
}

TEST_CASE("segment: malformed headers and packets are refused with their cause", "[offload]") {
  TcpSpec s;
  std::vector<uint8_t> payload = pattern(3000);
  VnetHdr good;
  std::vector<uint8_t> sp = super_tcp(s, payload, &good, 1400);
  TcpSpec s6 = s;
  s6.src = *IpAddr::parse("fd00::1");
  s6.dst = *IpAddr::parse("fd00::2");
  VnetHdr good6;
  std::vector<uint8_t> sp6 = super_tcp(s6, payload, &good6, 1400);
  Segmenter seg;
  auto with = [&](auto edit) {
    VnetHdr h = good;
    edit(h);
    return seg.start(h, sp, kMaxOut);
  };
  CHECK(with([](VnetHdr&) {}) == SegStatus::ok);
  CHECK(with([](VnetHdr& h) { h.gso_type = 2; }) == SegStatus::bad_gso_type);
  CHECK(with([](VnetHdr& h) { h.gso_type = kGsoUdp; }) == SegStatus::bad_gso_type);  // UFO
  CHECK(with([](VnetHdr& h) { h.gso_type = 0x7f; }) == SegStatus::bad_gso_type);
  CHECK(with([](VnetHdr& h) { h.gso_type = kGsoTcpV6; }) == SegStatus::bad_gso_type);
  CHECK(with([](VnetHdr& h) { h.gso_type = kGsoUdpL4; }) == SegStatus::bad_gso_type);
  CHECK(with([](VnetHdr& h) { h.gso_size = 0; }) == SegStatus::bad_gso_size);
  CHECK(with([&](VnetHdr& h) { h.hdr_len = uint16_t(sp.size() + 1); }) == SegStatus::bad_hdr_len);
  CHECK(with([](VnetHdr& h) { h.csum_start = 21; }) == SegStatus::bad_csum_fields);
  CHECK(with([](VnetHdr& h) { h.csum_offset = 6; }) == SegStatus::bad_csum_fields);
  CHECK(with([](VnetHdr& h) { h.csum_start = 0xffff; h.csum_offset = 0xffff; }) ==
        SegStatus::bad_csum_fields);
  CHECK(with([](VnetHdr& h) { h.gso_size = 2000; }) == SegStatus::too_big);  // > a pool buffer
  CHECK(seg.done());
  // gso_type with the ECN bit is still TCPv4.
  CHECK(with([](VnetHdr& h) { h.gso_type |= kGsoEcn; }) == SegStatus::ok);
  // IPv6 super-packet labelled TCPV4.
  VnetHdr h6 = good6;
  h6.gso_type = kGsoTcpV4;
  CHECK(seg.start(h6, sp6, kMaxOut) == SegStatus::bad_gso_type);
  CHECK(seg.start(good6, sp6, kMaxOut) == SegStatus::ok);
  // The packet itself: truncated, a fragment, not TCP/UDP.
  CHECK(seg.start(good, std::span<const uint8_t>(sp).first(1000), kMaxOut) == SegStatus::bad_packet);
  std::vector<uint8_t> frag = sp;
  frag[6] |= 0x20;  // MF
  put16(&frag[10], 0);
  put16(&frag[10], fold(sum16(frag.data(), 20)));
  CHECK(seg.start(good, frag, kMaxOut) == SegStatus::bad_packet);
  std::vector<uint8_t> icmp = icmp4_echo(s.src, s.dst, 1, 1, payload);
  VnetHdr hi = good;
  hi.flags = 0;
  CHECK(seg.start(hi, icmp, kMaxOut) == SegStatus::bad_packet);
  VnetHdr h0 = good;
  h0.hdr_len = 0;
  CHECK(seg.start(h0, std::span<const uint8_t>(), kMaxOut) == SegStatus::bad_packet);
  CHECK(seg.start(good, std::span<const uint8_t>(), kMaxOut) == SegStatus::bad_packet);
  // Without GSO: csum fields outside the packet, a packet larger than a buffer.
  VnetHdr none;
  none.flags = kVnetNeedsCsum;
  none.csum_start = uint16_t(sp.size() - 1);
  none.csum_offset = 0;
  CHECK(seg.start(none, sp, kMaxOut) == SegStatus::bad_csum_fields);
  CHECK(seg.start(VnetHdr{}, sp, kMaxOut) == SegStatus::too_big);
  CHECK(seg.start(VnetHdr{}, std::span<const uint8_t>(), kMaxOut) == SegStatus::bad_packet);
  std::vector<uint8_t> bytes = sp;
  CHECK(complete_checksum(none, bytes) == SegStatus::bad_csum_fields);
  CHECK(bytes == sp);
  CHECK(std::string(to_string(SegStatus::bad_gso_size)) == "bad_gso_size");
}

TEST_CASE("segment: a few buffers at a time, and a buffer too small ends the packet", "[offload]") {
  TcpSpec s;
  std::vector<uint8_t> payload = pattern(10 * 1000);
  VnetHdr h;
  std::vector<uint8_t> sp = super_tcp(s, payload, &h, 1000);
  Segmenter seg;
  REQUIRE(seg.start(h, sp, kMaxOut) == SegStatus::ok);
  BufferPool pool(4);
  std::vector<uint8_t> joined;
  size_t calls = 0;
  while (!seg.done() && calls < 20) {  // three buffers per "read_batch"
    ++calls;
    for (int k = 0; k < 3 && !seg.done(); ++k) {
      PacketBuf* b = pool.get();
      REQUIRE(seg.next(b));
      CHECK(l4_ok(b->span(), 6));
      joined.insert(joined.end(), b->data() + 40, b->data() + b->len);
      pool.put(b);
    }
  }
  CHECK(calls == 4);
  CHECK(joined == payload);
  CHECK_FALSE(seg.next(pool.get()));

  // A buffer smaller than the segment: nothing written past it, the rest dropped.
  REQUIRE(seg.start(h, sp, kMaxOut) == SegStatus::ok);
  std::vector<uint8_t> small(limits::kHeadroom + 500, 0xee);
  PacketBuf tiny{small.data(), uint32_t(small.size()), 0, 0};
  CHECK_FALSE(seg.next(&tiny));
  CHECK(seg.done());
  CHECK(std::all_of(small.begin(), small.end(), [](uint8_t x) { return x == 0xee; }));
}

TEST_CASE("segment: gso_size beyond the payload gives one segment", "[offload]") {
  TcpSpec s;
  std::vector<uint8_t> payload = pattern(700);
  VnetHdr h;
  std::vector<uint8_t> sp = super_tcp(s, payload, &h, 1400);
  Segmenter seg;
  REQUIRE(seg.start(h, sp, kMaxOut) == SegStatus::ok);
  Segs r;
  r.drain(seg);
  REQUIRE(r.out.size() == 1);
  CHECK(r.out[0]->len == sp.size());
  CHECK(l4_ok(r.out[0]->span(), 6));
}
