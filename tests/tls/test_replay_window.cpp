// ReplayWindow (RFC 6347 4.1.2.6): table cases for the edges, and random sequences checked against
// a naive reference (the set of every accepted number and the highest one).
#include <catch2/catch.hpp>

#include <random>
#include <set>

#include "tls/replay_window.hpp"

using ptun::tls::ReplayWindow;

namespace {

// Accept a number iff never accepted before and not 64 or more below the highest accepted one.
struct NaiveWindow {
  std::set<uint64_t> seen;
  uint64_t top = 0;
  bool check(uint64_t seq) const {
    if (seq > ReplayWindow::kMaxSeq || seen.count(seq) != 0) return false;
    return seq + 64 > top;
  }
  void update(uint64_t seq) {
    seen.insert(seq);
    top = std::max(top, seq);
  }
};

}  // namespace

TEST_CASE("replay window: fresh, duplicate, in-window and too old", "[tls][replay]") {
  ReplayWindow w;
  CHECK(w.check(0));  // nothing seen yet, 0 included
  w.update(0);
  CHECK(!w.check(0));
  CHECK(w.check(1));
  w.update(5);
  CHECK(w.check(1));  // out of order inside the window
  w.update(1);
  CHECK(!w.check(1));
  CHECK(!w.check(5));
  CHECK(w.check(4));
  w.update(100);
  CHECK(!w.check(36));  // 64 behind: outside
  CHECK(w.check(37));   // 63 behind: the last slot
  w.update(37);
  CHECK(!w.check(37));
  CHECK(!w.check(5));  // seen, and outside by now
  CHECK(w.top() == 100);
}

TEST_CASE("replay window: jumps larger than the window forget everything behind", "[tls][replay]") {
  ReplayWindow w;
  for (uint64_t s = 0; s < 10; ++s) w.update(s);
  w.update(10 + 64);  // shift by exactly the window size
  CHECK(w.bits() == 1);
  CHECK(!w.check(10));
  CHECK(w.check(11));
  w.update(1000000);
  CHECK(w.bits() == 1);
  CHECK(w.check(1000000 - 63));
  CHECK(!w.check(1000000 - 64));
  w.update(1000000 - 63);
  CHECK(w.bits() == (1 | uint64_t{1} << 63));
}

TEST_CASE("replay window: 48-bit sequence number bounds", "[tls][replay]") {
  ReplayWindow w;
  CHECK(w.check(ReplayWindow::kMaxSeq));
  CHECK(!w.check(ReplayWindow::kMaxSeq + 1));
  CHECK(!w.check(UINT64_MAX));
  w.update(ReplayWindow::kMaxSeq + 1);  // ignored
  CHECK(w.top() == 0);
  CHECK(w.bits() == 0);
  w.update(ReplayWindow::kMaxSeq);
  CHECK(!w.check(ReplayWindow::kMaxSeq));
  CHECK(w.check(ReplayWindow::kMaxSeq - 63));
  CHECK(!w.check(ReplayWindow::kMaxSeq - 64));
  CHECK(!w.check(0));
}

TEST_CASE("replay window: the state loads and stores as mbedTLS keeps it", "[tls][replay]") {
  ReplayWindow a;
  a.update(7);
  a.update(3);
  ReplayWindow b(a.top(), a.bits());
  CHECK(!b.check(7));
  CHECK(!b.check(3));
  CHECK(b.check(6));
  CHECK(a.bits() == (1 | 1 << 4));
}

TEST_CASE("replay window: random sequences agree with the naive reference", "[tls][replay]") {
  auto seed = GENERATE(1u, 2u, 3u, 4u);
  std::mt19937_64 rng(seed);
  ReplayWindow w;
  NaiveWindow ref;
  uint64_t base = seed == 4 ? ReplayWindow::kMaxSeq - 5000 : 0;  // one run near the 48-bit end
  for (int i = 0; i < 20000; ++i) {
    uint64_t seq;
    switch (rng() % 4) {
      case 0: seq = ref.top + rng() % 3; break;                                  // in order
      case 1: seq = ref.top > 80 ? ref.top - rng() % 80 : rng() % 80; break;     // around the edge
      case 2: seq = ref.top + rng() % 200; break;                                // jumps
      default: seq = base + rng() % (std::max(ref.top, base) - base + 300); break;  // anywhere
    }
    seq = std::max(seq, base);
    INFO("step " << i << " seq " << seq);
    bool ok = w.check(seq);
    REQUIRE(ok == ref.check(seq));
    if (ok && rng() % 8 != 0) {  // some checked records then fail authentication: no update
      w.update(seq);
      ref.update(seq);
    }
  }
}
