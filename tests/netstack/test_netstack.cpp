// The lwIP stack as a packet device, fed hand-made packets: accept-any termination (the
// server's userspace forwarding), what it answers, what never reaches lwIP, the connection cap.
#include "netstack/netstack.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "netstack/tcp_conn.hpp"
#include "packet/build.hpp"
#include "packet/checksum.hpp"
#include "packet/parse.hpp"

using namespace ptun;
using namespace ptun::netstack;

namespace {
using Bytes = std::vector<uint8_t>;
constexpr uint8_t kFin = 1, kSyn = 2, kRst = 4, kPsh = 8, kAck = 16;

Endpoint ep(const char* s) { return Endpoint::parse(s).value(); }

Bytes tcp(const Endpoint& from, const Endpoint& to, uint32_t seq, uint32_t ack, uint8_t flags,
          const std::string& data = {}) {
  Bytes l4(20 + data.size());
  l4[0] = uint8_t(from.port >> 8), l4[1] = uint8_t(from.port);
  l4[2] = uint8_t(to.port >> 8), l4[3] = uint8_t(to.port);
  for (int i = 0; i < 4; ++i) l4[4 + i] = uint8_t(seq >> (24 - 8 * i)), l4[8 + i] = uint8_t(ack >> (24 - 8 * i));
  l4[12] = 5 << 4;
  l4[13] = flags;
  l4[14] = 0xff, l4[15] = 0xff;   // window
  std::memcpy(l4.data() + 20, data.data(), data.size());
  Bytes out(60 + l4.size());
  size_t n = packet::build_ip(from.addr, to.addr, packet::kProtoTcp, l4, out.data(), out.size());
  REQUIRE(n > 0);
  out.resize(n);
  return out;
}

struct Seg {
  packet::Parsed p;
  uint32_t seq = 0, ack = 0;
};

// Every packet the stack has queued, parsed.
std::vector<Seg> drain(Netstack& s) {
  BufferPool pool(8);
  std::vector<Seg> out;
  for (;;) {
    PacketBuf* b = pool.get();
    PacketBuf* bufs[1] = {b};
    auto n = s.read_batch(bufs);
    if (!n || *n == 0) {
      pool.put(b);
      return out;
    }
    Seg g;
    REQUIRE(packet::parse(b->span(), &g.p) == packet::ParseStatus::ok);
    CHECK(packet::verify_l4_checksum(g.p, b->span()));
    const uint8_t* t = b->data() + g.p.l3_header_len;
    g.seq = uint32_t(t[4]) << 24 | t[5] << 16 | t[6] << 8 | t[7];
    g.ack = uint32_t(t[8]) << 24 | t[9] << 16 | t[10] << 8 | t[11];
    out.push_back(g);
    pool.put(b);
  }
}

// Runs a client handshake against the stack; returns the stack's ISN (0 if no SYN-ACK came).
uint32_t handshake(Netstack& s, const Endpoint& client, const Endpoint& dst, uint32_t isn) {
  REQUIRE(s.write(tcp(client, dst, isn, 0, kSyn)).ok());
  auto out = drain(s);
  if (out.size() != 1 || out[0].p.tcp_flags != (kSyn | kAck)) return 0;
  CHECK(out[0].p.src == dst.addr);   // answered from the address the client dialled
  CHECK(out[0].p.sport == dst.port);
  CHECK(out[0].p.dst == client.addr);
  CHECK(out[0].ack == isn + 1);
  REQUIRE(s.write(tcp(client, dst, isn + 1, out[0].seq + 1, kAck)).ok());
  return out[0].seq;
}
}  // namespace

TEST_CASE("accept-any: connections to any address and port, each keeps its own address", "[netstack]") {
  core::Loop loop;
  {
    auto st = Netstack::create(loop, {});
    REQUIRE(st.ok());
    Netstack& s = **st;
    CHECK_FALSE(Netstack::create(loop, {}).ok());   // lwIP has global state: one per process
    std::vector<std::unique_ptr<TcpConn>> accepted;
    s.enable_accept_any([&](std::unique_ptr<TcpConn>& c) {
      accepted.push_back(std::move(c));
      return true;
    });
    REQUIRE(s.listen_port(8080).ok());
    REQUIRE(s.listen_port(8080).ok());   // idempotent
    CHECK(s.listener_count() == 1);

    Endpoint client = ep("10.99.0.2:40000"), dst1 = ep("203.0.113.5:8080"), dst2 = ep("198.51.100.7:8080");
    uint32_t s1 = handshake(s, client, dst1, 1000);
    REQUIRE(s1 != 0);
    REQUIRE(accepted.size() == 1);
    CHECK(accepted[0]->local() == dst1);
    CHECK(accepted[0]->remote() == client);

    // A second destination: switching the netif's address must not abort the first connection.
    Endpoint client2 = ep("10.99.0.2:40001");
    uint32_t s2 = handshake(s, client2, dst2, 5000);
    REQUIRE(s2 != 0);
    REQUIRE(accepted.size() == 2);
    CHECK(accepted[1]->local() == dst2);
    CHECK(accepted[0]->alive());

    // Data on the first connection arrives through TcpConn::read.
    REQUIRE(s.write(tcp(client, dst1, 1001, s1 + 1, kPsh | kAck, "hello")).ok());
    auto read = [](TcpConn& c) -> core::Task<std::string> {
      std::vector<uint8_t> buf(64);
      auto n = co_await c.read(buf);
      REQUIRE(n.ok());
      co_return std::string(buf.begin(), buf.begin() + long(*n));
    };
    CHECK(core::run_until_complete(loop, read(*accepted[0])) == "hello");

    // IPv6 too.
    Endpoint c6 = ep("[fd99::2]:40002"), d6 = ep("[2001:db8::80]:8080");
    REQUIRE(handshake(s, c6, d6, 9000) != 0);
    REQUIRE(accepted.size() == 3);
    CHECK(accepted[2]->local() == d6);
    for (auto& c : accepted) c->abort();
    (void)drain(s);
  }
}

TEST_CASE("accept-any: no listener means a reset, refusing on_accept resets too", "[netstack]") {
  core::Loop loop;
  {
    auto st = Netstack::create(loop, {});
    REQUIRE(st.ok());
    Netstack& s = **st;
    bool take = false;
    std::unique_ptr<TcpConn> kept;
    s.enable_accept_any([&](std::unique_ptr<TcpConn>& c) {
      if (take) kept = std::move(c);
      return take;
    });
    Endpoint client = ep("10.99.0.2:41000"), dst = ep("203.0.113.9:9090");
    REQUIRE(s.write(tcp(client, dst, 1, 0, kSyn)).ok());
    auto out = drain(s);
    REQUIRE(out.size() == 1);
    CHECK((out[0].p.tcp_flags & kRst) != 0);
    CHECK(out[0].p.src == dst.addr);

    REQUIRE(s.listen_port(9090).ok());
    REQUIRE(s.write(tcp(client, dst, 100, 0, kSyn)).ok());
    out = drain(s);
    REQUIRE(out.size() == 1);
    REQUIRE(out[0].p.tcp_flags == (kSyn | kAck));
    REQUIRE(s.write(tcp(client, dst, 101, out[0].seq + 1, kAck)).ok());   // refused at accept
    out = drain(s);
    REQUIRE(out.size() == 1);
    CHECK((out[0].p.tcp_flags & kRst) != 0);
    CHECK(s.tcp_count() == 0);
    (void)kFin;
  }
}

TEST_CASE("the connection cap resets connections beyond it and counts them", "[netstack]") {
  core::Loop loop;
  {
    NetstackOptions o;
    o.max_tcp = 1;
    auto st = Netstack::create(loop, o);
    REQUIRE(st.ok());
    Netstack& s = **st;
    std::vector<std::unique_ptr<TcpConn>> accepted;
    s.enable_accept_any([&](std::unique_ptr<TcpConn>& c) {
      accepted.push_back(std::move(c));
      return true;
    });
    REQUIRE(s.listen_port(7070).ok());
    Endpoint dst = ep("203.0.113.10:7070");
    REQUIRE(handshake(s, ep("10.99.0.2:42000"), dst, 1) != 0);
    CHECK(accepted.size() == 1);
    REQUIRE(handshake(s, ep("10.99.0.2:42001"), dst, 1) != 0);   // SYN-ACK, then reset at accept
    CHECK(accepted.size() == 1);
    CHECK(s.netstack_stats().tcp_refused_limit == 1);
    auto out = drain(s);
    REQUIRE(out.size() == 1);
    CHECK((out[0].p.tcp_flags & kRst) != 0);
    accepted.clear();   // closing releases the slot
    CHECK(s.tcp_count() == 0);
    (void)drain(s);
  }
}

TEST_CASE("malformed packets are counted and never reach lwIP", "[netstack]") {
  core::Loop loop;
  {
    auto st = Netstack::create(loop, {});
    REQUIRE(st.ok());
    Netstack& s = **st;
    s.configure(Cidr::parse_interface("10.99.0.2/24").value(), Cidr::parse_interface("fd99::2/64").value(), 1400);
    // IPv6 with a hop-by-hop header that claims more bytes than the packet has (lwIP 2.1.3 reads
    // past the buffer on this).
    Bytes bad(48, 0);
    bad[0] = 0x60;
    bad[5] = 8;      // payload length 8
    bad[6] = 0;      // next header: hop-by-hop
    bad[7] = 64;
    std::memcpy(bad.data() + 8, IpAddr::parse("fd99::1").value().bytes.data(), 16);
    std::memcpy(bad.data() + 24, IpAddr::parse("fd99::2").value().bytes.data(), 16);
    bad[40] = 6;
    bad[41] = 200;   // 1608 bytes of options in an 8-byte payload
    CHECK_FALSE(s.write(bad).ok());
    CHECK_FALSE(s.write(Bytes{0x45, 0, 0}).ok());
    CHECK(s.netstack_stats().in_rejected == 2);
    CHECK(s.netstack_stats().in_packets == 0);
    CHECK(drain(s).empty());
    CHECK(s.address(Family::v4) == IpAddr::parse("10.99.0.2").value());
  }
}

// lwIP 2.1.3 aborted the process ("insane offset!") on a segment exactly 2^31 past rcv_nxt:
// third_party/lwip/patches/0001 drops it instead (found by fuzz_netstack).
TEST_CASE("a segment half the sequence space away is answered, not fatal", "[netstack]") {
  core::Loop loop;
  {
    auto st = Netstack::create(loop, {});
    REQUIRE(st.ok());
    Netstack& s = **st;
    std::vector<std::unique_ptr<TcpConn>> accepted;
    s.enable_accept_any([&](std::unique_ptr<TcpConn>& c) {
      accepted.push_back(std::move(c));
      return true;
    });
    REQUIRE(s.listen_port(8081).ok());
    Endpoint client = ep("10.99.0.2:43000"), dst = ep("203.0.113.5:8081");
    uint32_t srv = handshake(s, client, dst, 1000);
    REQUIRE(srv != 0);
    REQUIRE(s.write(tcp(client, dst, 1001, srv + 1, kPsh | kAck, "GET")).ok());
    uint32_t rcv_nxt = 1001 + 3;
    REQUIRE(s.write(tcp(client, dst, rcv_nxt + 0x80000000u, srv + 1, kFin | kAck)).ok());
    REQUIRE(s.write(tcp(client, dst, rcv_nxt + 0x80000000u, srv + 1, kPsh | kAck, "xyz")).ok());
    REQUIRE(accepted.size() == 1);
    CHECK(accepted[0]->alive());
    (void)drain(s);
    for (auto& c : accepted) c->abort();
  }
}
