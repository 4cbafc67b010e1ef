// The copy-free data path of established sessions: packets sealed in the caller's buffer and
// records opened inside the received datagram, interoperating with the copying path both ways.
#include <catch2/catch.hpp>

#include <cstring>

#include "sim.hpp"

using namespace ptun;
using namespace ptun::proto;
using namespace ptun::proto::testing;

namespace {

constexpr size_t kHead = 64, kTail = 64;

// A packet in a buffer with room on both sides, as the data path's pool buffers have it.
struct Framed {
  std::vector<uint8_t> buf;
  std::span<uint8_t> ip;
  explicit Framed(const std::vector<uint8_t>& pkt, size_t head = kHead, size_t tail = kTail)
      : buf(head + pkt.size() + tail, 0xEE) {
    std::memcpy(buf.data() + head, pkt.data(), pkt.size());
    ip = {buf.data() + head, pkt.size()};
  }
  bool contains(const uint8_t* p) const { return p >= buf.data() && p < buf.data() + buf.size(); }
};

struct Established {
  World w;
  ClientNode& c;
  uint64_t id = 0;
  Established() : c(w.add_client("203.0.113.5:50000")) {
    c.session->start(w.now);
    REQUIRE(w.run([&] { return c.session->state() == ClientSession::State::established; }, 10'000));
    id = c.session->session_id();
  }
  // Runs `send` with the network in capture mode and returns the datagram it produced, which
  // the test then delivers by hand (capture mode off again, so deliveries are recorded).
  template <typename F>
  std::vector<uint8_t> capture(F&& send) {
    w.net.capture = true;
    w.net.captured_len = 0;
    send();
    w.net.capture = false;
    REQUIRE(w.net.captured_len > 0);
    return {w.net.captured, w.net.captured + w.net.captured_len};
  }
};

}  // namespace

TEST_CASE("in place: client seals in its buffer, server opens in the datagram", "[proto][inplace]") {
  Established e;
  auto pkt = ip4_packet(1200, 7);
  Framed f(pkt);
  auto dgram = e.capture([&] { REQUIRE(e.c.session->send_packet_in_place(f.ip, kHead, kTail, e.w.now)); });
  CHECK(f.contains(e.w.net.last_data));   // the datagram was handed over from our buffer
  CHECK(dgram.size() == kOuterHeaderSize + e.c.session->record_overhead() + pkt.size());
  auto& srv = *e.w.server;
  const auto original = dgram;   // opening in place overwrites the ciphertext
  srv.endpoint->on_datagram_in_place(e.c.addr, dgram, e.w.now);
  REQUIRE(srv.delivered[e.id].size() == 1);
  CHECK(srv.delivered[e.id][0] == pkt);
  CHECK((srv.last_delivered >= dgram.data() && srv.last_delivered < dgram.data() + dgram.size()));
  // The same datagram again (a replay): dropped by the window.
  auto replay = original;
  srv.endpoint->on_datagram_in_place(e.c.addr, replay, e.w.now);
  CHECK(srv.delivered[e.id].size() == 1);
}

TEST_CASE("in place: server seals in its buffer, client opens in the datagram", "[proto][inplace]") {
  Established e;
  auto pkt = ip4_packet(900, 3);
  Framed f(pkt);
  auto& ep = *e.w.server->endpoint;
  auto dgram = e.capture([&] { REQUIRE(ep.send_packet_in_place(e.id, f.ip, kHead, kTail, e.w.now)); });
  CHECK(f.contains(e.w.net.last_data));

  e.c.session->on_datagram_in_place(dgram, e.w.now);
  REQUIRE(e.c.delivered.size() == 1);
  CHECK(e.c.delivered[0] == pkt);
  CHECK((e.c.last_delivered >= dgram.data() && e.c.last_delivered < dgram.data() + dgram.size()));
}

TEST_CASE("in place and copying paths interoperate, with one sequence space", "[proto][inplace]") {
  Established e;
  auto& srv = *e.w.server;
  std::vector<std::vector<uint8_t>> sent, dgrams;
  for (int i = 0; i < 20; ++i) {
    auto pkt = ip4_packet(100 + i, uint8_t(i));
    sent.push_back(pkt);
    Framed f(pkt);
    dgrams.push_back(e.capture([&] {
      if (i % 2) REQUIRE(e.c.session->send_packet_in_place(f.ip, kHead, kTail, e.w.now));
      else REQUIRE(e.c.session->send_packet(pkt, e.w.now));
    }));
  }
  // Every record carries its own sequence number (bytes 8+5..8+10 of the datagram: epoch, seq).
  for (size_t i = 1; i < dgrams.size(); ++i) {
    auto seq = [](const std::vector<uint8_t>& d) {
      uint64_t v = 0;
      for (int k = 0; k < 8; ++k) v = v << 8 | d[kOuterHeaderSize + 3 + k];
      return v;
    };
    CHECK(seq(dgrams[i]) == seq(dgrams[i - 1]) + 1);
  }
  // The server opens them alternately in place and through mbedTLS.
  const auto originals = dgrams;
  for (size_t i = 0; i < dgrams.size(); ++i) {
    if (i % 3) srv.endpoint->on_datagram_in_place(e.c.addr, dgrams[i], e.w.now);
    else srv.endpoint->on_datagram(e.c.addr, dgrams[i], e.w.now);
  }
  REQUIRE(srv.delivered[e.id] == sent);
  // Replays through either path are refused: the window is shared.
  for (size_t i = 0; i < originals.size(); ++i) {
    auto d = originals[i];
    if (i % 2) srv.endpoint->on_datagram_in_place(e.c.addr, d, e.w.now);
    else srv.endpoint->on_datagram(e.c.addr, d, e.w.now);
  }
  CHECK(srv.delivered[e.id].size() == sent.size());
}

TEST_CASE("in place: a tampered datagram is dropped and the session goes on", "[proto][inplace]") {
  Established e;
  auto& srv = *e.w.server;
  auto pkt = ip4_packet(500, 1);
  Framed f(pkt);
  auto bad = e.capture([&] { REQUIRE(e.c.session->send_packet_in_place(f.ip, kHead, kTail, e.w.now)); });

  bad[bad.size() / 2] ^= 0x01;
  srv.endpoint->on_datagram_in_place(e.c.addr, bad, e.w.now);
  CHECK(srv.delivered[e.id].empty());
  CHECK(srv.endpoint->session_count() == 1);
  Framed f2(pkt);
  auto good = e.capture([&] { REQUIRE(e.c.session->send_packet_in_place(f2.ip, kHead, kTail, e.w.now)); });

  srv.endpoint->on_datagram_in_place(e.c.addr, good, e.w.now);
  CHECK(srv.delivered[e.id].size() == 1);
}

TEST_CASE("in place: too little room falls back to the copying path", "[proto][inplace]") {
  Established e;
  auto pkt = ip4_packet(300, 5);
  Framed f(pkt, 8, 0);   // room for the outer header only
  auto dgram = e.capture([&] { REQUIRE(e.c.session->send_packet_in_place(f.ip, 8, 0, e.w.now)); });
  CHECK_FALSE(f.contains(e.w.net.last_data));   // sent from the session's own buffer

  e.w.server->endpoint->on_datagram_in_place(e.c.addr, dgram, e.w.now);
  REQUIRE(e.w.server->delivered[e.id].size() == 1);
  CHECK(e.w.server->delivered[e.id][0] == pkt);
}
