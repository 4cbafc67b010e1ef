// The TCP transport's pure parts: framing, the client's transport choice, the server's caps and
// deadlines (docs/protocol.md §7).
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "proto/stream_frame.hpp"
#include "proto/stream_gate.hpp"
#include "proto/transport_choice.hpp"

using namespace ptun;
using namespace ptun::proto;

namespace {
std::vector<uint8_t> bytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 7);
  return v;
}
std::vector<uint8_t> preamble() { return {kStreamPreamble.begin(), kStreamPreamble.end()}; }
}  // namespace

TEST_CASE("stream frames: any split of the stream yields the same datagrams") {
  std::vector<std::vector<uint8_t>> sent = {bytes(1, 1), bytes(1984, 2), bytes(100, 3), bytes(kMaxStreamFrame, 4)};
  std::vector<uint8_t> stream = preamble();
  for (auto& d : sent) REQUIRE(append_frame(stream, d));
  for (size_t chunk : {size_t(1), size_t(2), size_t(3), size_t(7), size_t(1000), stream.size()}) {
    Deframer d(true);
    std::vector<std::vector<uint8_t>> got;
    for (size_t off = 0; off < stream.size(); off += chunk) {
      size_t n = std::min(chunk, stream.size() - off);
      auto st = d.feed(std::span<const uint8_t>(stream.data() + off, n),
                       [&](std::span<uint8_t> f) { got.emplace_back(f.begin(), f.end()); });
      REQUIRE(st == Deframer::Status::ok);
    }
    CHECK(got == sent);
    CHECK(d.pending() == 0);
    CHECK(d.stats().frames == 4);
  }
}

TEST_CASE("stream frames: empty and oversized datagrams are not framed") {
  std::vector<uint8_t> out;
  CHECK_FALSE(append_frame(out, {}));
  auto big = bytes(kMaxStreamFrame + 1, 0);
  CHECK_FALSE(append_frame(out, big));
  CHECK(out.empty());
}

TEST_CASE("stream frames: garbage ends the stream, counted") {
  SECTION("an HTTP request instead of the preamble") {
    Deframer d(true);
    std::string req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    int frames = 0;
    auto st = d.feed(std::span<const uint8_t>((const uint8_t*)req.data(), req.size()), [&](auto) { ++frames; });
    CHECK(st == Deframer::Status::bad_preamble);
    CHECK(d.stats().bad_preamble == 1);
    CHECK(frames == 0);
    // Dead for good: more bytes change nothing.
    auto p = preamble();
    CHECK(d.feed(p, [&](auto) { ++frames; }) == Deframer::Status::bad_preamble);
  }
  SECTION("a zero length") {
    Deframer d(false);
    std::vector<uint8_t> s = {0, 0, 1, 2};
    CHECK(d.feed(s, [](auto) {}) == Deframer::Status::bad_length);
    CHECK(d.stats().bad_length == 1);
  }
  SECTION("a length above the cap, after a good frame") {
    Deframer d(false, 1500);
    std::vector<uint8_t> s;
    REQUIRE(append_frame(s, bytes(10, 9)));
    s.push_back(0x05);
    s.push_back(0xdd);  // 1501
    int frames = 0;
    CHECK(d.feed(s, [&](auto) { ++frames; }) == Deframer::Status::bad_length);
    CHECK(frames == 1);
  }
  SECTION("a truncated frame stays pending") {
    Deframer d(false);
    std::vector<uint8_t> s;
    REQUIRE(append_frame(s, bytes(50, 1)));
    s.resize(30);
    int frames = 0;
    CHECK(d.feed(s, [&](auto) { ++frames; }) == Deframer::Status::ok);
    CHECK(frames == 0);
    CHECK(d.pending() == 30);
    CHECK(d.mid_frame());
  }
}

TEST_CASE("transport choice: an unanswered UDP handshake falls back to TCP once") {
  TransportParams p;
  p.fallback_ms = 3000;
  TransportChoice c(p);
  c.attempt_started(Transport::udp, 1000);
  TransportChoice::View v;  // handshaking
  CHECK(c.deadline(v) == 4000);
  CHECK(c.next(3999, v) == TransportChoice::Action::none);
  CHECK(c.next(4000, v) == TransportChoice::Action::fall_back);
  CHECK(c.next(5000, v) == TransportChoice::Action::none);  // once
  SECTION("an answer (even a HelloVerifyRequest) means UDP works") {
    c.attempt_started(Transport::udp, 10000);
    c.heard(10100);
    CHECK(c.next(20000, v) == TransportChoice::Action::none);
    CHECK(c.deadline(v) == UINT64_MAX);
  }
  SECTION("TCP disabled: never") {
    p.tcp_enabled = false;
    TransportChoice off(p);
    off.attempt_started(Transport::udp, 0);
    CHECK(off.next(100000, v) == TransportChoice::Action::none);
  }
}

TEST_CASE("transport choice: an established UDP session that stops hearing pings, then falls back") {
  TransportParams p;
  p.fallback_ms = 5000;
  p.ping_ms = 1000;
  TransportChoice c(p);
  c.attempt_started(Transport::udp, 0);
  TransportChoice::View v{true, 10000, 10000};
  CHECK(c.next(20000, v) == TransportChoice::Action::none);  // idle: silence is not a symptom
  v.last_tx_ms = 10500;  // sent after the last receipt
  CHECK(c.next(10999, v) == TransportChoice::Action::none);
  CHECK(c.next(11000, v) == TransportChoice::Action::ping);
  CHECK(c.next(11500, v) == TransportChoice::Action::none);
  CHECK(c.next(12000, v) == TransportChoice::Action::ping);
  v.last_rx_ms = 12100;  // a PONG: all is well
  v.last_tx_ms = 12200;
  CHECK(c.next(12500, v) == TransportChoice::Action::none);
  CHECK(c.next(17099, v) != TransportChoice::Action::fall_back);
  CHECK(c.next(17100, v) == TransportChoice::Action::fall_back);
  c.switched(Transport::tcp, 17200);
  CHECK(c.fallbacks() == 1);
  CHECK(c.transport() == Transport::tcp);
}

TEST_CASE("transport choice: on TCP, UDP is probed periodically, a return resets the silence") {
  TransportParams p;
  p.fallback_ms = 5000;
  p.probe_ms = 2000;
  TransportChoice c(p);
  c.attempt_started(Transport::tcp, 0);
  TransportChoice::View v{true, 0, 0};
  CHECK(c.next(1999, v) == TransportChoice::Action::none);
  CHECK(c.next(2000, v) == TransportChoice::Action::probe_udp);
  CHECK(c.next(3000, v) == TransportChoice::Action::none);
  CHECK(c.next(4000, v) == TransportChoice::Action::probe_udp);
  c.switched(Transport::udp, 4100);
  CHECK(c.returns() == 1);
  v.last_tx_ms = 4200;  // last_rx_ms is older than the switch: silence counts from the switch
  CHECK(c.next(5099, v) == TransportChoice::Action::none);
  CHECK(c.next(5100, v) == TransportChoice::Action::ping);
  CHECK(c.next(9100, v) == TransportChoice::Action::fall_back);
  // Failed again soon after the return: probes slow down (doubling, bounded).
  c.switched(Transport::tcp, 9100);
  CHECK(c.probe_interval_ms() == 4000);
  for (int i = 0; i < 10; ++i) {
    c.switched(Transport::udp, 10000 + i * 10);
    c.switched(Transport::tcp, 10005 + i * 10);
  }
  CHECK(c.probe_interval_ms() == 32000);
}

TEST_CASE("stream gate: total and per-source caps, released on close") {
  StreamLimits l;
  l.max_connections = 3;
  l.max_per_source = 2;
  StreamGate g(l);
  auto a = *IpAddr::parse("198.18.0.1"), b = *IpAddr::parse("198.18.0.2");
  auto v6a = *IpAddr::parse("2001:db8::1"), v6b = *IpAddr::parse("2001:db8::2");
  CHECK(g.admit(a) == StreamGate::Admit::ok);
  CHECK(g.admit(a) == StreamGate::Admit::ok);
  CHECK(g.admit(a) == StreamGate::Admit::source_limit);
  CHECK(g.admit(b) == StreamGate::Admit::ok);
  CHECK(g.admit(b) == StreamGate::Admit::total_limit);
  CHECK(g.open() == 3);
  g.release(a);
  g.release(a);
  g.release(a);  // a third release of a source with none open changes nothing
  CHECK(g.open() == 1);
  CHECK(g.admit(v6a) == StreamGate::Admit::ok);
  CHECK(g.admit(v6b) == StreamGate::Admit::ok);  // same /64
  CHECK(g.admit(v6a) == StreamGate::Admit::total_limit);
  g.release(v6b);
  CHECK(g.admit(v6a) == StreamGate::Admit::ok);            // the /64 has one again
  CHECK(g.admit(b) == StreamGate::Admit::total_limit);
  g.release(b);
  CHECK(g.admit(v6b) == StreamGate::Admit::source_limit);  // the /64 holds two
  CHECK(g.counters().refused_source == 2);
  CHECK(g.counters().refused_total == 3);
  CHECK(g.counters().accepted == 6);
}

TEST_CASE("stream clock: handshake deadline, then per-frame deadline") {
  StreamLimits l;
  l.handshake_ms = 10000;
  l.frame_ms = 3000;
  StreamClock c(l, 1000);
  CHECK(c.deadline() == 11000);
  c.bytes_in(2000, true);  // slow bytes do not extend the handshake deadline
  CHECK(c.expired(10999) == StreamClock::Expiry::none);
  CHECK(c.expired(11000) == StreamClock::Expiry::handshake);
  c.established();
  c.bytes_in(12000, false);
  CHECK(c.deadline() == UINT64_MAX);
  c.bytes_in(13000, true);
  c.bytes_in(14000, true);  // still the same frame
  CHECK(c.expired(15999) == StreamClock::Expiry::none);
  CHECK(c.expired(16000) == StreamClock::Expiry::frame);
  c.bytes_in(15000, false);
  CHECK(c.expired(100000) == StreamClock::Expiry::none);
}
