#include <catch2/catch.hpp>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "probe.hpp"

using namespace ptun;
using namespace ptun::core;

namespace {

Endpoint ep(const char* s) {
  auto r = Endpoint::parse(s);
  REQUIRE(r.ok());
  return *r;
}

std::unique_ptr<UdpSocket> bind_or_skip(Loop& loop, const char* addr, const UdpOptions& o = {}) {
  auto r = UdpSocket::bind(loop, ep(addr), o);
  if (!r) {
    WARN("cannot bind " << addr << ": " << r.error().message);
    return nullptr;
  }
  return std::move(*r);
}

// Two sockets on 127.0.0.1 (IPv4 loopback is always there: failing to bind fails the case).
struct SocketPair {
  std::unique_ptr<UdpSocket> a, b;
};
SocketPair loopback_pair(Loop& loop) {
  SocketPair p{bind_or_skip(loop, "127.0.0.1:0"), bind_or_skip(loop, "127.0.0.1:0")};
  REQUIRE(p.a);
  REQUIRE(p.b);
  return p;
}

// Sends `n` datagrams "msg-<i>" from `tx` to `to`, receives them on `rx`, checks payloads and
// that every peer is tx's address. `unequal`: message i padded with i dots, so that no two have
// one size and none leave as a UDP GSO run (which qemu-user mishandles on big-endian targets).
std::string message(int i, bool unequal) { return "msg-" + std::to_string(i) + std::string(unequal ? size_t(i) : 0, '.'); }
Task<void> exchange(UdpSocket& tx, UdpSocket& rx, Endpoint to, Endpoint expect_peer, int n, bool unequal = false) {
  BufferPool pool(2 * size_t(n) + limits::kBatch);
  std::vector<Datagram> out;
  for (int i = 0; i < n; ++i) {
    PacketBuf* b = pool.get();
    std::string s = message(i, unequal);
    std::memcpy(b->data(), s.data(), s.size());
    b->len = uint32_t(s.size());
    out.push_back({b, to});
  }
  size_t sent = 0;
  while (sent < out.size()) {
    Result<size_t> r = tx.send_batch(std::span<const Datagram>(out).subspan(sent));
    REQUIRE(r.ok());
    sent += *r;
    if (sent < out.size()) {
      Result<void> w = co_await tx.wait_writable();
      REQUIRE(w.ok());
    }
  }
  std::vector<Datagram> in(limits::kBatch);
  for (auto& d : in) d.buf = pool.get();
  std::set<std::string> got;
  while (got.size() < size_t(n)) {
    Result<size_t> r = co_await rx.recv_batch(in);
    REQUIRE(r.ok());
    REQUIRE(*r >= 1);
    for (size_t i = 0; i < *r; ++i) {
      CHECK(in[i].peer == expect_peer);
      got.insert(std::string(reinterpret_cast<const char*>(in[i].buf->data()), in[i].buf->len));
    }
  }
  for (int i = 0; i < n; ++i) CHECK(got.count(message(i, unequal)) == 1);
}

}  // namespace

TEST_CASE("UdpSocket: 100 datagrams over IPv4 loopback, correct peers", "[core][udp]") {
  Loop loop;
  auto [a, b] = loopback_pair(loop);
  CHECK(a->local_endpoint().port != 0);
  run_until_complete(loop, exchange(*a, *b, b->local_endpoint(), a->local_endpoint(), 100));
  CHECK(b->stats().rx_truncated == 0);
}

TEST_CASE("UdpSocket: 100 datagrams over IPv6 loopback", "[core][udp]") {
  Loop loop;
  auto a = bind_or_skip(loop, "[::1]:0");
  auto b = bind_or_skip(loop, "[::1]:0");
  if (!a || !b) return;  // no IPv6 here (warned)
  run_until_complete(loop, exchange(*a, *b, b->local_endpoint(), a->local_endpoint(), 100));
}

TEST_CASE("UdpSocket: dual-stack socket sees IPv4 peers as IPv4 and answers them", "[core][udp]") {
  Loop loop;
  UdpOptions dual;
  dual.v6only = false;
  auto server = bind_or_skip(loop, "[::]:0", dual);
  auto client = bind_or_skip(loop, "127.0.0.1:0");
  if (!server) return;
  REQUIRE(client);
  Endpoint to = ep("127.0.0.1:0");
  to.port = server->local_endpoint().port;
  run_until_complete(loop, exchange(*client, *server, to, client->local_endpoint(), 3));
  // And back: an IPv4 destination on an IPv6 socket is sent v4-mapped.
  run_until_complete(loop, exchange(*server, *client, client->local_endpoint(), to, 3));
}

TEST_CASE("UdpSocket: oversized datagrams are dropped and counted, not returned truncated", "[core][udp]") {
  Loop loop;
  auto [a, b] = loopback_pair(loop);
  auto main = [](UdpSocket& a, UdpSocket& b) -> Task<void> {
    BufferPool big(2);
    BufferPool small(2, limits::kHeadroom + 100);  // room for 100 bytes of payload
    PacketBuf* p1 = big.get();
    std::memset(p1->data(), 'A', 500);
    p1->len = 500;
    PacketBuf* p2 = big.get();
    std::memset(p2->data(), 'B', 50);
    p2->len = 50;
    Datagram out[2] = {{p1, b.local_endpoint()}, {p2, b.local_endpoint()}};
    Result<size_t> s = a.send_batch(out);
    REQUIRE(s.ok());
    REQUIRE(*s == 2);
    Datagram in[2] = {{small.get(), {}}, {small.get(), {}}};
    size_t total = 0;
    while (total == 0) {
      Result<size_t> r = co_await b.recv_batch(in);
      REQUIRE(r.ok());
      total = *r;
    }
    REQUIRE(total == 1);
    CHECK(in[0].buf->len == 50);
    CHECK(in[0].buf->data()[0] == 'B');
    CHECK(b.stats().rx_truncated == 1);
  };
  run_until_complete(loop, main(*a, *b));
}

TEST_CASE("UdpSocket: refused datagrams are consumed and counted, the rest still go", "[core][udp]") {
  Loop loop;
  auto a = bind_or_skip(loop, "127.0.0.1:0");
  REQUIRE(a);
  BufferPool pool(2);
  PacketBuf* p = pool.get();
  p->len = 10;
  Datagram out[3] = {{p, ep("[::1]:9")}, {p, {}}, {p, a->local_endpoint()}};  // wrong family, no peer, ok
  Result<size_t> r = a->send_batch(out);
  REQUIRE(r.ok());
  CHECK(*r == 3);
  CHECK(a->stats().tx_dropped == 2);
  Datagram in[1] = {{pool.get(), {}}};
  Result<size_t> got = a->try_recv_batch(in);
  REQUIRE(got.ok());
  CHECK(*got == 1);
  CHECK(a->try_recv_batch(in).value() == 0);  // nothing more: 0, not an error
}

TEST_CASE("UdpSocket: recv cancelled, closed, and carried across rebind", "[core][udp]") {
  Loop loop;
  auto [a, b] = loopback_pair(loop);
  auto main = [](Loop& loop, UdpSocket& a, UdpSocket& b) -> Task<void> {
    BufferPool pool(4);
    Datagram in[1] = {{pool.get(), {}}};
    CancelSource src;
    TaskScope scope(loop);
    std::vector<Errc> got;
    auto recv = [](UdpSocket& s, std::span<Datagram> in, CancelToken tok, std::vector<Errc>* got) -> Task<void> {
      Result<size_t> r = co_await s.recv_batch(in, tok);
      got->push_back(r ? Errc::ok : r.error().code);
    };
    scope.spawn(recv(b, in, src.token(), &got));
    (void)co_await sleep_for(loop, 5);
    src.cancel();
    (void)co_await sleep_for(loop, 5);
    REQUIRE(got.size() == 1);
    CHECK(got[0] == Errc::cancelled);

    // Rebind while a receive is pending: it carries on with the new socket.
    scope.spawn(recv(b, in, {}, &got));
    (void)co_await sleep_for(loop, 5);
    Endpoint old = b.local_endpoint();
    REQUIRE(b.rebind(Endpoint::parse("127.0.0.1:0").value()).ok());
    CHECK(b.local_endpoint() != old);
    PacketBuf* p = pool.get();
    p->len = 4;
    Datagram out[1] = {{p, b.local_endpoint()}};
    REQUIRE(a.send_batch(out).value() == 1);
    (void)co_await sleep_for(loop, 5);
    REQUIRE(got.size() == 2);
    CHECK(got[1] == Errc::ok);

    // Close while a receive is pending: Errc::closed.
    scope.spawn(recv(b, in, {}, &got));
    (void)co_await sleep_for(loop, 5);
    b.close();
    co_await scope.join();
    REQUIRE(got.size() == 3);
    CHECK(got[2] == Errc::closed);
    CHECK(b.send_batch(out).error().code == Errc::closed);
  };
  run_until_complete(loop, main(loop, *a, *b));
}

TEST_CASE("UdpSocket: equal-sized datagrams leave as UDP GSO messages and arrive intact", "[core][udp][gso]") {
  Loop loop;
  auto [a, b] = loopback_pair(loop);
  auto main = [](UdpSocket& a, UdpSocket& b) -> Task<void> {
    // 60 datagrams of 1200 bytes then one of 300 to b, then 3 of 1200 to a itself (another peer
    // breaks the group): every payload must arrive once, unchanged, from the right peer.
    constexpr int kBig = 60;
    BufferPool pool(256);
    std::vector<Datagram> out;
    auto add = [&](size_t len, Endpoint to, int tag) {
      PacketBuf* p = pool.get();
      for (size_t i = 0; i < len; ++i) p->data()[i] = uint8_t(tag + i);
      std::memcpy(p->data(), &tag, sizeof tag);
      p->len = uint32_t(len);
      out.push_back({p, to});
    };
    for (int i = 0; i < kBig; ++i) add(1200, b.local_endpoint(), i);
    add(300, b.local_endpoint(), kBig);
    for (int i = 0; i < 3; ++i) add(1200, a.local_endpoint(), 1000 + i);
    Result<size_t> s = a.send_batch(out);
    REQUIRE(s.ok());
    REQUIRE(*s == out.size());
    if (a.stats().gso_disabled) WARN("UDP GSO not available here: sent one by one");
    else CHECK(a.stats().tx_gso_sends >= 2);
    std::vector<Datagram> in(limits::kBatch);
    for (auto& d : in) d.buf = pool.get();
    std::set<int> got;
    while (got.size() < size_t(kBig + 1)) {
      Result<size_t> r = co_await b.recv_batch(in);
      REQUIRE(r.ok());
      for (size_t i = 0; i < *r; ++i) {
        int tag;
        std::memcpy(&tag, in[i].buf->data(), sizeof tag);
        CHECK(in[i].peer == a.local_endpoint());
        CHECK(in[i].buf->len == (tag == kBig ? 300u : 1200u));
        bool same = true;
        for (size_t k = sizeof tag; k < in[i].buf->len; ++k) same = same && in[i].buf->data()[k] == uint8_t(tag + k);
        CHECK(same);
        CHECK(got.insert(tag).second);
      }
    }
    size_t self = 0;
    while (self < 3) {
      Result<size_t> r = co_await a.recv_batch(in);
      REQUIRE(r.ok());
      self += *r;
    }
    CHECK(self == 3);
  };
  run_until_complete(loop, main(*a, *b));
}

TEST_CASE("UdpSocket: after a short batch the next receive waits for readiness, and loses nothing", "[core][udp]") {
  Loop loop;
  auto [a, b] = loopback_pair(loop);
  auto main = [](Loop& loop, UdpSocket& a, UdpSocket& b) -> Task<void> {
    BufferPool pool(2 * limits::kBatch + 8);
    std::vector<Datagram> in(limits::kBatch);
    for (auto& d : in) d.buf = pool.get();
    auto send = [&](int n) {
      std::vector<Datagram> out;
      for (int i = 0; i < n; ++i) {
        PacketBuf* p = pool.get();
        p->len = uint32_t(8 + i);   // unequal sizes: no UDP GSO run (qemu mishandles them on mips)
        out.push_back({p, b.local_endpoint()});
      }
      REQUIRE(a.send_batch(out).value() == size_t(n));
      for (auto& d : out) pool.put(d.buf);
    };
    send(1);
    (void)co_await sleep_for(loop, 5);
    Result<size_t> r = co_await b.recv_batch(in);   // one datagram for 64 slots: a short batch
    REQUIRE(r.value() == 1);
    CHECK(b.stats().rx_calls == 1);
    // Sent while nobody reads, then after the wait has begun: both arrive, and the receive that
    // follows the short batch spends no call on an empty queue.
    send(3);
    r = co_await b.recv_batch(in);
    REQUIRE(r.value() == 3);
    CHECK(b.stats().rx_calls == 2);
    TaskScope scope(loop);
    size_t late = 0;
    scope.spawn([](UdpSocket& b, std::vector<Datagram>& in, size_t* got) -> Task<void> {
      *got = (co_await b.recv_batch(in)).value();
    }(b, in, &late));
    (void)co_await sleep_for(loop, 5);
    CHECK(late == 0);
    send(2);
    co_await scope.join();
    CHECK(late == 2);
    CHECK(b.stats().rx_calls == 3);
  };
  run_until_complete(loop, main(loop, *a, *b));
}

TEST_CASE("UdpSocket: connected to one peer: hears only it, ICMP errors are counted and never fatal", "[core][udp]") {
  Loop loop;
  auto [a, b] = loopback_pair(loop);
  auto c = bind_or_skip(loop, "127.0.0.1:0");
  REQUIRE(c);
  auto main = [](UdpSocket& a, UdpSocket& b, UdpSocket& c) -> Task<void> {
    BufferPool pool(2 * limits::kBatch + 8);
    std::vector<Datagram> in(limits::kBatch);
    for (auto& d : in) d.buf = pool.get();
    auto send = [&](UdpSocket& from, Endpoint to, uint8_t tag) {
      PacketBuf* p = pool.get();
      p->data()[0] = tag;
      p->len = 1;
      Datagram d{p, to};
      Result<size_t> r = from.send_batch(std::span(&d, 1));
      pool.put(p);
      return r;
    };
    REQUIRE(a.connect(b.local_endpoint()).ok());
    REQUIRE(a.connected_peer() == b.local_endpoint());
    // To the connected peer (no address in the message) and back.
    co_await exchange(a, b, b.local_endpoint(), a.local_endpoint(), 10, true);
    co_await exchange(b, a, a.local_endpoint(), b.local_endpoint(), 3, true);
    // Another socket's datagram never reaches a; b's, sent after it, does.
    REQUIRE(send(c, a.local_endpoint(), 'c').value() == 1);
    REQUIRE(send(b, a.local_endpoint(), 'b').value() == 1);
    Result<size_t> r = co_await a.recv_batch(in);
    REQUIRE(r.value() == 1);
    CHECK(in[0].buf->data()[0] == 'b');
    CHECK(a.try_recv_batch(in).value() == 0);

    // Another peer: c's datagrams now arrive, b's do not.
    REQUIRE(a.connect(c.local_endpoint()).ok());
    co_await exchange(c, a, a.local_endpoint(), c.local_endpoint(), 3, true);
    REQUIRE(send(b, a.local_endpoint(), 'b').value() == 1);
    CHECK(a.try_recv_batch(in).value() == 0);

    // A peer with nobody listening: the port-unreachable ICMP is queued on the socket, and the
    // next call reports it. A send retries after consuming it (nothing is lost or counted as
    // dropped), a receive goes on to say "nothing ready".
    Endpoint closed = c.local_endpoint();
    c.close();
    REQUIRE(a.connect(closed).ok());
    REQUIRE(send(a, closed, 1).value() == 1);
    REQUIRE(send(a, closed, 2).value() == 1);
    CHECK(a.stats().icmp_errors == 1);
    CHECK(a.stats().tx_dropped == 0);
    CHECK(a.try_recv_batch(in).value() == 0);
    CHECK(a.stats().icmp_errors == 2);

    // rebind() connects the new socket to the same peer.
    REQUIRE(a.connect(b.local_endpoint()).ok());
    REQUIRE(a.rebind(Endpoint{a.local_endpoint().addr, 0}).ok());
    CHECK(a.connected_peer() == b.local_endpoint());
    co_await exchange(a, b, b.local_endpoint(), a.local_endpoint(), 3, true);
    REQUIRE(send(b, a.local_endpoint(), 'b').value() == 1);
    r = co_await a.recv_batch(in);
    CHECK(r.value() == 1);
    // To the other family the socket is for another peer: it comes back unconnected.
    if (a.rebind(ep("[::1]:0")).ok()) CHECK_FALSE(a.connected_peer());
  };
  run_until_complete(loop, main(*a, *b, *c));
}
