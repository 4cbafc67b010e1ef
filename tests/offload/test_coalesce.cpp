#include <catch2/catch.hpp>

#include <vector>

#include "offload/coalesce.hpp"
#include "offload/segment.hpp"
#include "offload/tcp_packets.hpp"

using namespace ptun;
using namespace ptun::offload;
using namespace ptun::test;

namespace {

struct Batch {
  BufferPool pool{256};
  std::vector<PacketBuf*> pkts;
  ~Batch() {
    for (PacketBuf* b : pkts) pool.put(b);
  }
  void add(const std::vector<uint8_t>& p) { pkts.push_back(load(pool, p)); }
};

// Segment k of a flow: payload bytes [k*mss, k*mss + n) of pattern(), seq and IPv4 ID advanced.
std::vector<uint8_t> seg(TcpSpec s, size_t k, size_t mss = 1000, size_t n = 0, uint8_t flags = 0x10) {
  static const std::vector<uint8_t> data = pattern(200000);
  if (n == 0) n = mss;
  s.seq += uint32_t(k * mss);
  s.ip_id = uint16_t(s.ip_id + k);
  s.flags = flags;
  return tcp_packet(s, std::span<const uint8_t>(data).subspan(k * mss, n));
}

// The bytes a writev of v would write.
std::vector<uint8_t> flatten(std::span<const iovec> v) {
  std::vector<uint8_t> out;
  for (const iovec& i : v) {
    auto* p = static_cast<const uint8_t*>(i.iov_base);
    out.insert(out.end(), p, p + i.iov_len);
  }
  return out;
}

// The groups as lists of indices into b.pkts.
std::vector<std::vector<size_t>> shape(Coalescer& c, const Batch& b) {
  std::vector<std::vector<size_t>> out;
  for (size_t g = 0; g < c.groups(); ++g) {
    std::vector<size_t> m;
    for (size_t k = 0; k < c.group_size(g); ++k) {
      PacketBuf* p = c.member(g, k);
      m.push_back(size_t(std::find(b.pkts.begin(), b.pkts.end(), p) - b.pkts.begin()));
    }
    out.push_back(m);
  }
  return out;
}
using Shape = std::vector<std::vector<size_t>>;

// Checks group g as the kernel would take it: vnet header, then a packet whose lengths cover
// all the payloads and whose TCP checksum, completed from the pseudo-header sum, is correct.
// Returns the IP packet (checksum completed).
std::vector<uint8_t> check_super(Coalescer& c, size_t g, size_t mss, bool v6 = false) {
  auto v = c.build(g);
  REQUIRE(v.size() == 1 + c.group_size(g));
  std::vector<uint8_t> all = flatten(v);
  VnetHdr h;
  REQUIRE(decode_vnet_hdr(all, &h));
  std::vector<uint8_t> p(all.begin() + kVnetHdrLen, all.end());
  size_t l3 = v6 ? 40 : 20;
  CHECK(h.flags == kVnetNeedsCsum);
  CHECK(h.gso_type == (v6 ? kGsoTcpV6 : kGsoTcpV4));
  CHECK(h.gso_size == mss);
  CHECK(h.csum_start == l3);
  CHECK(h.csum_offset == 16);
  CHECK(h.hdr_len == l3 + (p[l3 + 12] >> 4) * 4);
  CHECK(v[0].iov_len == kVnetHdrLen + h.hdr_len);
  CHECK(ip_total(p) == p.size());
  if (!v6) CHECK(ip4_ok(p));
  // What the kernel does with NEEDS_CSUM: sum from csum_start (the field holds the pseudo-header
  // sum) and store the complement.
  put16(&p[l3 + 16], fold(sum16(&p[l3], p.size() - l3)));
  CHECK(l4_ok(p, 6));
  return p;
}

}  // namespace

TEST_CASE("coalesce: in-order IPv4 segments become one super-packet, payloads not copied",
          "[offload]") {
  TcpSpec s;
  Batch b;
  for (size_t k = 0; k < 4; ++k) b.add(seg(s, k));
  b.add(seg(s, 4, 1000, 321, 0x18));  // shorter last one with PSH
  Coalescer c;
  REQUIRE(c.plan(b.pkts) == 5);
  REQUIRE(shape(c, b) == Shape{{0, 1, 2, 3, 4}});
  auto v = c.build(0);
  for (size_t k = 0; k < 5; ++k)  // each payload iovec points into its pool buffer
    CHECK(v[1 + k].iov_base == b.pkts[k]->data() + 40);
  std::vector<uint8_t> p = check_super(c, 0, 1000);
  REQUIRE(p.size() == 40 + 4321);
  CHECK(get16(&p[4]) == s.ip_id);        // the first segment's ID
  CHECK((p[33] & 0x08) != 0);            // PSH from the last
  std::vector<uint8_t> expect = pattern(200000);
  CHECK(std::equal(p.begin() + 40, p.end(), expect.begin()));
}

TEST_CASE("coalesce: IPv6 with TCP options", "[offload]") {
  TcpSpec s;
  s.src = *IpAddr::parse("fd00::1");
  s.dst = *IpAddr::parse("fd00::2");
  s.options = {1, 1, 8, 10, 0, 0, 1, 0, 0, 0, 2, 0};
  s.flow_label = 0x12345;
  Batch b;
  for (size_t k = 0; k < 3; ++k) b.add(seg(s, k, 1200));
  Coalescer c;
  c.plan(b.pkts);
  REQUIRE(shape(c, b) == Shape{{0, 1, 2}});
  std::vector<uint8_t> p = check_super(c, 0, 1200, true);
  CHECK(p.size() == 40 + 32 + 3600);
  CHECK(std::equal(s.options.begin(), s.options.end(), p.begin() + 60));
  CHECK(get16(&p[2]) == 0x2345);
}

TEST_CASE("coalesce: order, gaps and interleaved flows", "[offload]") {
  TcpSpec a, bflow;
  bflow.sport = 40001;
  Coalescer c;
  SECTION("out of order: nothing merges, order kept") {
    Batch b;
    b.add(seg(a, 0));
    b.add(seg(a, 2));
    b.add(seg(a, 1));
    c.plan(b.pkts);
    CHECK(shape(c, b) == Shape{{0}, {1}, {2}});
  }
  SECTION("a gap splits the run") {
    Batch b;
    for (size_t k : {0, 1, 3, 4}) b.add(seg(a, k));
    c.plan(b.pkts);
    CHECK(shape(c, b) == Shape{{0, 1}, {2, 3}});
    check_super(c, 0, 1000);
    check_super(c, 1, 1000);
  }
  SECTION("two flows interleaved, UDP and ICMP in between") {
    Batch b;
    b.add(seg(a, 0));
    b.add(seg(bflow, 0));
    b.add(udp_packet(a.src, a.dst, 1, 2, pattern(100)));
    b.add(seg(a, 1));
    b.add(icmp4_echo(a.src, a.dst, 7, 1, pattern(50)));
    b.add(seg(bflow, 1));
    b.add(seg(a, 2));
    c.plan(b.pkts);
    CHECK(shape(c, b) == Shape{{0, 3, 6}, {1, 5}, {2}, {4}});
    check_super(c, 0, 1000);
    check_super(c, 1, 1000);
    // Alone: zero header, then the packet untouched.
    auto v = c.build(2);
    REQUIRE(v.size() == 2);
    std::vector<uint8_t> lone = flatten(v);
    CHECK(std::all_of(lone.begin(), lone.begin() + kVnetHdrLen, [](uint8_t x) { return x == 0; }));
    CHECK(std::equal(lone.begin() + kVnetHdrLen, lone.end(), b.pkts[2]->data()));
  }
  SECTION("a packet of the flow that cannot join ends the group") {
    Batch b;
    b.add(seg(a, 0));
    b.add(seg(a, 1));
    TcpSpec pure = a;
    pure.seq += 2000;
    b.add(tcp_packet(pure, {}));  // pure ACK
    b.add(seg(a, 2));
    b.add(seg(a, 3));
    c.plan(b.pkts);
    CHECK(shape(c, b) == Shape{{0, 1}, {2}, {3, 4}});
  }
}

TEST_CASE("coalesce: flags, options and IP fields that must match", "[offload]") {
  TcpSpec a;
  Coalescer c;
  auto two = [&](std::vector<uint8_t> first, std::vector<uint8_t> second) {
    Batch b;
    b.add(first);
    b.add(second);
    c.plan(b.pkts);
    return shape(c, b);
  };
  const Shape merged{{0, 1}}, apart{{0}, {1}};
  CHECK(two(seg(a, 0), seg(a, 1)) == merged);
  for (uint8_t f : {0x11, 0x12, 0x14, 0x30, 0x90}) {  // FIN SYN RST URG CWR (with ACK)
    INFO("flags " << int(f));
    CHECK(two(seg(a, 0), seg(a, 1, 1000, 0, f)) == apart);
    CHECK(two(seg(a, 0, 1000, 0, f), seg(a, 1)) == apart);
  }
  CHECK(two(seg(a, 0, 1000, 0, 0x00), seg(a, 1, 1000, 0, 0x00)) == apart);  // no ACK
  CHECK(two(seg(a, 0, 1000, 0, 0x50), seg(a, 1)) == apart);                 // ECE differs
  CHECK(two(seg(a, 0, 1000, 0, 0x50), seg(a, 1, 1000, 0, 0x50)) == merged);
  CHECK(two(seg(a, 0, 1000, 0, 0x18), seg(a, 1)) == apart);  // PSH only on the last
  CHECK(two(seg(a, 0), seg(a, 1, 1000, 0, 0x18)) == merged);
  {  // a short one ends the group
    Batch b;
    b.add(seg(a, 0));
    b.add(seg(a, 1, 1000, 500));
    TcpSpec t = a;
    t.seq += 1500;
    t.ip_id = uint16_t(t.ip_id + 2);
    b.add(tcp_packet(t, pattern(1000)));
    c.plan(b.pkts);
    CHECK(shape(c, b) == Shape{{0, 1}, {2}});
  }
  CHECK(two(seg(a, 0), seg(a, 1, 1000, 1001)) == apart);      // longer than the first
  TcpSpec o = a;
  o.options = {1, 1, 1, 1};
  TcpSpec o2 = a;
  o2.options = {1, 1, 1, 0};
  CHECK(two(seg(o, 0), seg(o, 1)) == merged);
  CHECK(two(seg(o, 0), seg(o2, 1)) == apart);
  CHECK(two(seg(a, 0), seg(o, 1)) == apart);
  TcpSpec x = a;
  x.ack += 1;
  CHECK(two(seg(a, 0), seg(x, 1)) == apart);
  x = a;
  x.ttl = 63;
  CHECK(two(seg(a, 0), seg(x, 1)) == apart);
  x = a;
  x.tos = 4;
  CHECK(two(seg(a, 0), seg(x, 1)) == apart);
  x = a;
  x.df = false;
  CHECK(two(seg(a, 0), seg(x, 1)) == apart);
  CHECK(two(seg(x, 0), seg(x, 1)) == merged);  // without DF, IDs counting up
  TcpSpec y = x;
  y.ip_id = uint16_t(x.ip_id + 5);
  CHECK(two(seg(x, 0), seg(y, 1)) == apart);
  x = a;
  x.win = 1024;  // the window may change: the newest goes into the super-packet
  {
    Batch b;
    b.add(seg(a, 0));
    b.add(seg(x, 1));
    c.plan(b.pkts);
    REQUIRE(c.groups() == 1);
    CHECK(get16(&check_super(c, 0, 1000)[34]) == 1024);
  }
  // A broken checksum (IP or TCP) keeps a segment out: the kernel must see and drop it.
  std::vector<uint8_t> bad = seg(a, 1);
  bad[100] ^= 1;
  CHECK(two(seg(a, 0), bad) == apart);
  bad = seg(a, 1);
  bad[8] = 1;  // TTL without fixing the header checksum
  CHECK(two(seg(a, 0), bad) == apart);
  // IPv6 traffic class / flow label / hop limit.
  TcpSpec v6 = a;
  v6.src = *IpAddr::parse("fd00::1");
  v6.dst = *IpAddr::parse("fd00::2");
  TcpSpec w = v6;
  w.flow_label = 9;
  CHECK(two(seg(v6, 0), seg(v6, 1)) == merged);
  CHECK(two(seg(v6, 0), seg(w, 1)) == apart);
  w = v6;
  w.ttl = 1;
  CHECK(two(seg(v6, 0), seg(w, 1)) == apart);
}

TEST_CASE("coalesce: the 64 KiB and batch limits", "[offload]") {
  TcpSpec a;
  Coalescer c;
  {
    Batch b;
    for (size_t k = 0; k < 50; ++k) b.add(seg(a, k, 1448));
    REQUIRE(c.plan(b.pkts) == 50);
    size_t members = 0;
    for (size_t g = 0; g < c.groups(); ++g) {
      std::vector<uint8_t> p = check_super(c, g, 1448);
      CHECK(p.size() <= kMaxSuperPacket);
      members += c.group_size(g);
    }
    CHECK(members == 50);
    CHECK(c.groups() == 2);
    CHECK(c.group_size(0) == (65535 - 40) / 1448);
  }
  {
    Batch b;  // small segments: the batch bound (64 per plan) comes first
    for (size_t k = 0; k < 100; ++k) b.add(seg(a, k, 100));
    REQUIRE(c.plan(b.pkts) == kMaxCoalesceBatch);
    REQUIRE(c.groups() == 1);
    CHECK(c.group_size(0) == kMaxGroupSegments);
    CHECK(c.build(0).size() == 1 + kMaxGroupSegments);
    REQUIRE(c.plan(std::span<PacketBuf* const>(b.pkts).subspan(64)) == 36);
    CHECK(c.groups() == 1);
  }
  CHECK(c.plan({}) == 0);
  CHECK(c.groups() == 0);
}

TEST_CASE("coalesce: round trip through the segmenter gives back the super-packet", "[offload]") {
  for (const char* src : {"192.0.2.1", "2001:db8::1"}) {
    TcpSpec s;
    s.src = *IpAddr::parse(src);
    s.dst = *IpAddr::parse(s.src.is_v4() ? "192.0.2.2" : "2001:db8::2");
    s.options = {1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8};
    s.flags = 0x18;
    s.seq = 0xffffff00;
    std::vector<uint8_t> payload = pattern(40000, 5);
    std::vector<uint8_t> sp = tcp_packet(s, payload);
    make_partial(sp, 6);
    const size_t l3 = l3_len(sp);
    VnetHdr h;
    h.flags = kVnetNeedsCsum;
    h.gso_type = s.src.is_v4() ? kGsoTcpV4 : kGsoTcpV6;
    h.hdr_len = uint16_t(l3 + 32);
    h.gso_size = 1388;
    h.csum_start = uint16_t(l3);
    h.csum_offset = 16;
    Segmenter segm;
    REQUIRE(segm.start(h, sp, limits::kPacketBufSize - limits::kHeadroom) == SegStatus::ok);
    Batch b;
    while (!segm.done()) {
      PacketBuf* p = b.pool.get();
      REQUIRE(segm.next(p));
      b.pkts.push_back(p);
    }
    REQUIRE(b.pkts.size() == (40000 + 1387) / 1388);
    Coalescer c;
    c.plan(b.pkts);
    REQUIRE(c.groups() == 1);
    std::vector<uint8_t> back = flatten(c.build(0));
    VnetHdr h2;
    REQUIRE(decode_vnet_hdr(back, &h2));
    CHECK(h2.gso_type == h.gso_type);
    CHECK(h2.gso_size == h.gso_size);
    CHECK(h2.hdr_len == h.hdr_len);
    CHECK(h2.csum_start == h.csum_start);
    CHECK(h2.csum_offset == h.csum_offset);
    CHECK(std::vector<uint8_t>(back.begin() + kVnetHdrLen, back.end()) == sp);
  }
}
