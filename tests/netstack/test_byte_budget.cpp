// The per-client byte budget (pure bookkeeping) and how a TcpConn in lwIP charges it: tiny
// segments coalesced, data over budget refused, a zero window seen as a stalled send.
#include "netstack/byte_budget.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "netstack/netstack.hpp"
#include "netstack/tcp_conn.hpp"
#include "packet/build.hpp"
#include "packet/parse.hpp"

using namespace ptun;
using namespace ptun::netstack;

namespace {
using Bytes = std::vector<uint8_t>;
constexpr uint8_t kSyn = 2, kPsh = 8, kAck = 16;

Endpoint ep(const char* s) { return Endpoint::parse(s).value(); }

Bytes tcp(const Endpoint& from, const Endpoint& to, uint32_t seq, uint32_t ack, uint8_t flags,
          const std::string& data = {}, uint16_t window = 0xffff) {
  Bytes l4(20 + data.size());
  l4[0] = uint8_t(from.port >> 8), l4[1] = uint8_t(from.port);
  l4[2] = uint8_t(to.port >> 8), l4[3] = uint8_t(to.port);
  for (int i = 0; i < 4; ++i) l4[4 + i] = uint8_t(seq >> (24 - 8 * i)), l4[8 + i] = uint8_t(ack >> (24 - 8 * i));
  l4[12] = 5 << 4;
  l4[13] = flags;
  l4[14] = uint8_t(window >> 8), l4[15] = uint8_t(window);
  std::memcpy(l4.data() + 20, data.data(), data.size());
  Bytes out(60 + l4.size());
  size_t n = packet::build_ip(from.addr, to.addr, packet::kProtoTcp, l4, out.data(), out.size());
  REQUIRE(n > 0);
  out.resize(n);
  return out;
}

// The stack's segments to the client: (seq, ack) of each.
std::vector<std::pair<uint32_t, uint32_t>> drain(Netstack& s) {
  BufferPool pool(8);
  std::vector<std::pair<uint32_t, uint32_t>> out;
  for (;;) {
    PacketBuf* b = pool.get();
    PacketBuf* bufs[1] = {b};
    auto n = s.read_batch(bufs);
    if (!n || *n == 0) {
      pool.put(b);
      return out;
    }
    packet::Parsed p;
    REQUIRE(packet::parse(b->span(), &p) == packet::ParseStatus::ok);
    const uint8_t* t = b->data() + p.l3_header_len;
    out.emplace_back(uint32_t(t[4]) << 24 | t[5] << 16 | t[6] << 8 | t[7],
                     uint32_t(t[8]) << 24 | t[9] << 16 | t[10] << 8 | t[11]);
    pool.put(b);
  }
}

// One accepted connection (client 10.99.0.2:40000 -> 203.0.113.5:8080) charged to `budget`.
struct Fixture {
  core::Loop loop;
  std::unique_ptr<Netstack> stack;
  std::unique_ptr<TcpConn> conn;
  Endpoint client = ep("10.99.0.2:40000"), dst = ep("203.0.113.5:8080");
  uint32_t seq = 1001, server_isn = 0;

  explicit Fixture(std::shared_ptr<ByteBudget> budget) {
    stack = std::move(Netstack::create(loop, {}).value());
    stack->enable_accept_any([this, budget](std::unique_ptr<TcpConn>& c) {
      c->set_budget(budget);
      conn = std::move(c);
      return true;
    });
    REQUIRE(stack->listen_port(8080).ok());
    REQUIRE(stack->write(tcp(client, dst, 1000, 0, kSyn)).ok());
    auto out = drain(*stack);
    REQUIRE(out.size() == 1);
    server_isn = out[0].first;
    REQUIRE(stack->write(tcp(client, dst, 1001, server_isn + 1, kAck)).ok());
    REQUIRE(conn);
  }
  ~Fixture() {
    if (conn) conn->abort();
    conn.reset();
    (void)drain(*stack);
  }
  void send(const std::string& data, uint16_t window = 0xffff) {
    send_at(seq, data, window);
    seq += uint32_t(data.size());
  }
  void send_at(uint32_t at, const std::string& data, uint16_t window = 0xffff) {
    REQUIRE(stack->write(tcp(client, dst, at, server_isn + 1, kPsh | kAck, data, window)).ok());
  }
  std::string read_all() {
    auto task = [](TcpConn& c) -> core::Task<std::string> {
      std::string s;
      std::vector<uint8_t> buf(65536);
      while (c.readable_now()) {
        auto n = co_await c.read(buf);
        REQUIRE(n.ok());
        if (*n == 0) break;
        s.append(buf.begin(), buf.begin() + long(*n));
        c.ack(*n);
      }
      co_return s;
    };
    return core::run_until_complete(loop, task(*conn));
  }
};
}  // namespace

TEST_CASE("ByteBudget: charges up to the limit, refuses beyond and counts", "[netstack][budget]") {
  BudgetStats st;
  ByteBudget b(1000, &st);
  CHECK(b.try_charge(600));
  CHECK(b.room() == 400);
  CHECK_FALSE(b.try_charge(401));   // all or nothing
  CHECK(b.used() == 600);
  CHECK(b.refused() == 1);
  CHECK(st.refused == 1);
  CHECK(st.refused_bytes == 401);
  CHECK(b.try_charge(400));
  CHECK(b.room() == 0);
  CHECK_FALSE(b.try_charge(1));
  b.charge(500);                     // memory already held: taken, leaves no room
  CHECK(b.used() == 1500);
  CHECK(b.room() == 0);
  b.release(1000);
  CHECK(b.used() == 500);
  CHECK(b.try_charge(500));
  b.release(5000);                   // over-release is clamped
  CHECK(b.used() == 0);
  CHECK(st.refused == 2);
}

TEST_CASE("BudgetTable: one budget per client, shared by its holders, pruned when unheld", "[netstack][budget]") {
  BudgetTable t(100);
  IpAddr a = IpAddr::parse("10.99.0.2").value(), b = IpAddr::parse("fd99::2").value();
  auto a1 = t.get(a), a2 = t.get(a), b1 = t.get(b);
  CHECK(a1 == a2);
  CHECK(a1 != b1);
  CHECK(a1->try_charge(100));
  CHECK_FALSE(a2->try_charge(1));    // the client's whole budget is used...
  CHECK(b1->try_charge(100));        // ...and another client's is its own
  CHECK(t.used() == 200);
  CHECK(t.stats().refused == 1);
  a1.reset();
  CHECK(t.prune() == 2);             // a2 still holds a's budget
  a2.reset();
  CHECK(t.prune() == 1);
  CHECK(t.get(a)->used() == 0);      // a fresh budget after the last holder went
  CHECK(t.used() == 100);
}

TEST_CASE("TcpConn: 1-byte segments are coalesced, not kept as one pbuf each", "[netstack][budget]") {
  auto budget = std::make_shared<ByteBudget>(size_t(1) << 20);
  Fixture fx(budget);
  std::string want;
  for (int i = 0; i < 2000; ++i) {
    std::string one(1, char('a' + i % 26));
    fx.send(one);
    want += one;
  }
  // 2000 payload bytes: a pbuf each would be 2000 * (1 + headers + struct) ~ 250 KB; coalesced
  // they fill one 4 KiB chunk.
  CHECK(fx.conn->charged() <= 8192);
  CHECK(budget->used() == fx.conn->charged());
  CHECK(fx.read_all() == want);
  CHECK(fx.conn->charged() == 0);
  CHECK(budget->used() == 0);
}

TEST_CASE("TcpConn: data over the client's budget is refused and not acknowledged", "[netstack][budget]") {
  BudgetStats st;
  auto budget = std::make_shared<ByteBudget>(16384, &st);
  Fixture fx(budget);
  std::string seg(1200, 'x');
  uint32_t last_ack = 0;
  for (int i = 0; i < 40; ++i) {
    fx.send(seg);
    for (auto& [s, a] : drain(*fx.stack)) last_ack = a;
  }
  CHECK(budget->used() <= budget->limit());
  CHECK(st.refused > 0);
  // lwIP holds one refused segment and drops the rest unacknowledged: the client must resend.
  uint32_t acked = last_ack - 1001;
  CHECK(acked < 40 * 1200);
  CHECK(acked <= budget->limit() + 2 * 1200);
  std::string got = fx.read_all();
  CHECK(got.size() >= 8 * 1200);
  CHECK(got == std::string(got.size(), 'x'));
  CHECK(budget->used() == 0);
}

TEST_CASE("TcpConn: a zero window with data waiting is a stalled send", "[netstack][budget]") {
  auto budget = std::make_shared<ByteBudget>(size_t(1) << 20);
  Fixture fx(budget);
  CHECK_FALSE(fx.conn->send_stalled());
  fx.send("hi");
  fx.send("", 0);     // the client closes its window (a newer segment: lwIP takes the update)
  (void)fx.read_all();
  Bytes data(20000, 7);
  auto write = [](TcpConn& c, Bytes& d) -> core::Task<bool> { co_return (co_await c.write_all(d)).ok(); };
  CHECK(core::run_until_complete(fx.loop, write(*fx.conn, data)));
  CHECK(fx.conn->send_stalled());
  // The send buffer is charged: the payload plus the segments' overhead.
  CHECK(budget->used() >= data.size());
  CHECK(budget->used() < 2 * data.size());
  // The window opens: lwIP sends, the stall ends.
  fx.send("", 0xffff);
  (void)drain(*fx.stack);
  CHECK_FALSE(fx.conn->send_stalled());
}

TEST_CASE("TcpConn: out-of-order segments are queued only while the client's budget has room", "[netstack][budget]") {
  auto budget = std::make_shared<ByteBudget>(64 * 1024);
  Fixture fx(budget);
  std::string a(1000, 'a'), b(1000, 'b'), c(1000, 'c'), d(1000, 'd');
  // Room: the second segment waits out of order and completes the stream with the first.
  fx.send_at(fx.seq + 1000, b);
  fx.send(a);
  fx.seq += 1000;
  CHECK(fx.read_all() == a + b);
  // Spent (memory held elsewhere by this client): lwIP keeps no out-of-order segment, the client
  // has to send it again.
  budget->charge(budget->limit());
  fx.send_at(fx.seq + 1000, d);
  budget->release(budget->limit());
  fx.send(c);
  CHECK(fx.read_all() == c);
  fx.send(d);
  CHECK(fx.read_all() == d);
}
