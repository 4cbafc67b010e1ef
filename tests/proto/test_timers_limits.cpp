#include <catch2/catch.hpp>

#include <map>
#include <vector>

#include "common/rng.hpp"
#include "proto/deadline_heap.hpp"
#include "proto/rate_limiter.hpp"

using namespace ptun;
using namespace ptun::proto;

TEST_CASE("DeadlineHeap pops due entries in order", "[proto][timers]") {
  DeadlineHeap h;
  CHECK(h.top() == UINT64_MAX);
  h.push(50, 1);
  h.push(10, 2);
  h.push(30, 3);
  CHECK(h.top() == 10);
  DeadlineHeap::Entry e;
  CHECK_FALSE(h.pop_due(9, &e));
  std::vector<uint64_t> keys;
  while (h.pop_due(40, &e)) keys.push_back(e.key);
  CHECK(keys == std::vector<uint64_t>{2, 3});
  CHECK(h.top() == 50);
  h.compact([](const DeadlineHeap::Entry& x) { return x.key != 1; });
  CHECK(h.empty());
}

TEST_CASE("DeadlineHeap against a naive reference with lazy re-arming", "[proto][timers]") {
  // Owners re-arm like ServerEndpoint: push only when earlier; stale entries skipped by armed_at.
  SeededRng rng(11);
  DeadlineHeap h;
  std::map<uint64_t, uint64_t> armed, real;
  uint64_t now = 0;
  for (int step = 0; step < 5000; ++step) {
    uint64_t key = rng.u32() % 50;
    uint64_t d = now + 1 + rng.u32() % 1000;
    real[key] = d;
    auto it = armed.find(key);
    if (it == armed.end() || d < it->second) {
      armed[key] = d;
      h.push(d, key);
    }
    now += rng.u32() % 20;
    DeadlineHeap::Entry e;
    std::vector<DeadlineHeap::Entry> due;
    while (h.pop_due(now, &e)) due.push_back(e);
    for (auto& x : due) {
      auto a = armed.find(x.key);
      if (a == armed.end() || a->second != x.deadline) continue;
      armed.erase(a);
      uint64_t r = real[x.key];
      if (r <= now) {
        real.erase(x.key);  // fired at or after its real deadline: never early
        REQUIRE(r <= now);
      } else {
        armed[x.key] = r;
        h.push(r, x.key);
      }
    }
    // Every real deadline is covered by an armed entry no later than it.
    for (auto& [k, r] : real) {
      REQUIRE(armed.count(k));
      REQUIRE(armed[k] <= r);
    }
    REQUIRE(h.top() <= (armed.empty() ? UINT64_MAX : std::min_element(armed.begin(), armed.end(), [](auto& a, auto& b) { return a.second < b.second; })->second));
  }
}

TEST_CASE("SourceRateLimiter: burst, refill, /64 keying, bounded table", "[proto][ratelimit]") {
  SourceRateLimiter rl(2, 2, 3);
  auto a = *IpAddr::parse("192.0.2.1");
  CHECK(rl.allow(a, 0));
  CHECK(rl.allow(a, 0));
  CHECK_FALSE(rl.allow(a, 0));
  CHECK_FALSE(rl.allow(a, 400));
  CHECK(rl.allow(a, 500));  // 2/s: one token per 500 ms
  CHECK_FALSE(rl.allow(a, 500));

  // Two addresses in one /64 share a bucket.
  auto v6a = *IpAddr::parse("2001:db8:1:2::1"), v6b = *IpAddr::parse("2001:db8:1:2::ffff");
  CHECK(rl.allow(v6a, 0));
  CHECK(rl.allow(v6b, 0));
  CHECK_FALSE(rl.allow(v6a, 0));

  // Table full of busy sources: a new one is refused; once they idle, it is admitted.
  auto c = *IpAddr::parse("198.51.100.7"), d = *IpAddr::parse("198.51.100.8");
  CHECK(rl.allow(c, 500));
  CHECK(rl.size() == 3);
  CHECK_FALSE(rl.allow(d, 500));
  CHECK(rl.allow(d, 5000));

  SourceRateLimiter off(0, 0, 1);
  for (int i = 0; i < 100; ++i) CHECK(off.allow(a, 0));
}
