// The data path of an established session must not allocate: send_packet() and on_datagram()
// on both sides, counted with a replaced global operator new (mbedTLS's own calloc is not
// counted; its record path does not allocate either).
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

#include "sim.hpp"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<size_t> g_allocs{0};
}  // namespace

// The replacement pairs malloc with free on purpose; g++ cannot see that both sides are ours.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
// Every non-aligned form is replaced so that new/delete pairs stay consistent (ASan checks).
namespace {
void* counted_alloc(size_t n) {
  if (g_counting) ++g_allocs;
  return std::malloc(n ? n : 1);
}
}  // namespace
void* operator new(size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using namespace ptun;
using namespace ptun::proto;
using namespace ptun::proto::testing;

TEST_CASE("established data path does not allocate", "[proto][session][hotpath]") {
  World w;
  auto& c = w.add_client("203.0.113.5:50000");
  c.session->start(w.now);
  REQUIRE(w.run([&] { return c.session->state() == ClientSession::State::established; }, 10'000));
  uint64_t id = c.session->session_id();
  auto& ep = *w.server->endpoint;
  auto pkt = ip4_packet(1200, 9);
  w.net.capture = true;
  // Warm up once (first-use paths), then measure.
  REQUIRE(c.session->send_packet(pkt, w.now));
  ep.on_datagram(c.addr, {w.net.captured, w.net.captured_len}, w.now);
  REQUIRE(ep.send_packet(id, pkt, w.now));
  c.session->on_datagram({w.net.captured, w.net.captured_len}, w.now);

  g_allocs = 0;
  g_counting = true;
  for (int i = 0; i < 100; ++i) {
    w.now += 1;
    bool a = c.session->send_packet(pkt, w.now);
    ep.on_datagram(c.addr, {w.net.captured, w.net.captured_len}, w.now);
    bool b = ep.send_packet(id, pkt, w.now);
    c.session->on_datagram({w.net.captured, w.net.captured_len}, w.now);
    if (!a || !b) break;
  }
  g_counting = false;
  CHECK(g_allocs == 0);
  CHECK(w.server->delivered_count == 101);
  CHECK(c.delivered_count == 101);
}

TEST_CASE("on-wire overhead matches the MTU constants for both suites", "[proto][wire][mtu]") {
  for (auto [order, overhead] : {std::pair{tls::SuiteOrder::aes_only, kAesGcmRecordOverhead},
                                 std::pair{tls::SuiteOrder::chacha_only, kChachaRecordOverhead}}) {
    World w({}, tls::testing::opts(order));
    auto& c = w.add_client("203.0.113.5:50000");
    c.session->start(w.now);
    REQUIRE(w.run([&] { return c.session->state() == ClientSession::State::established; }, 10'000));
    w.net.capture = true;
    auto pkt = ip4_packet(1000, 1);
    REQUIRE(c.session->send_packet(pkt, w.now));
    CAPTURE(c.session->ciphersuite());
    CHECK(w.net.captured_len == kOuterHeaderSize + overhead + pkt.size());
    // So an underlay MTU of 1500 carries exactly tunnel_mtu() bytes of inner packet.
    CHECK(20 + 8 + w.net.captured_len - pkt.size() + tunnel_mtu(1500, Family::v4, overhead) == 1500);
  }
}
