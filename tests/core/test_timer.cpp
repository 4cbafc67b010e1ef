#include <catch2/catch.hpp>

#include <vector>

#include "probe.hpp"

using namespace ptun;
using namespace ptun::core;
using ptun::core::test::FrameProbe;

namespace {
Task<void> poke_after(Loop& loop, Timer& t, uint64_t ms) {
  (void)co_await sleep_for(loop, ms);
  t.poke();
}
Task<void> cancel_after(Loop& loop, CancelSource& src, uint64_t ms) {
  (void)co_await sleep_for(loop, ms);
  src.cancel();
}
}  // namespace

TEST_CASE("sleep_for sleeps at least the requested time", "[core][timer]") {
  Loop loop;
  auto main = [](Loop& loop) -> Task<uint64_t> {
    uint64_t t0 = loop.now_ms();
    Result<void> r = co_await sleep_for(loop, 20);
    CHECK(r.ok());
    co_return loop.now_ms() - t0;
  };
  CHECK(run_until_complete(loop, main(loop)) >= 20);
}

TEST_CASE("sleep_for cancelled, before and during the wait", "[core][timer]") {
  Loop loop;
  auto main = [](Loop& loop) -> Task<void> {
    CancelSource pre;
    pre.cancel();
    Result<void> r = co_await sleep_for(loop, 10000, pre.token());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::cancelled);

    CancelSource src;
    TaskScope scope(loop);
    scope.spawn(cancel_after(loop, src, 10));
    uint64_t t0 = loop.now_ms();
    r = co_await sleep_for(loop, 10000, src.token());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::cancelled);
    CHECK(loop.now_ms() - t0 < 1000);
    co_await scope.join();
  };
  run_until_complete(loop, main(loop));
}

TEST_CASE("Timer: deadlines in order, past deadlines, reuse", "[core][timer]") {
  Loop loop;
  auto main = [](Loop& loop) -> Task<void> {
    std::vector<int> order;
    auto waiter = [](Loop& loop, uint64_t ms, int id, std::vector<int>* order) -> Task<void> {
      Timer t(loop);
      Result<void> r = co_await t.wait_until(loop.now_ms() + ms);
      CHECK(r.ok());
      order->push_back(id);
      r = co_await t.wait_until(0);  // a past deadline fires on the next iteration
      CHECK(r.ok());
    };
    TaskScope scope(loop);
    scope.spawn(waiter(loop, 25, 3, &order));
    scope.spawn(waiter(loop, 5, 1, &order));
    scope.spawn(waiter(loop, 15, 2, &order));
    co_await scope.join();
    CHECK(order == std::vector<int>{1, 2, 3});
  };
  run_until_complete(loop, main(loop));
}

TEST_CASE("Timer: poke wakes a pending wait early and is remembered when idle", "[core][timer]") {
  Loop loop;
  auto main = [](Loop& loop) -> Task<void> {
    Timer t(loop);
    TaskScope scope(loop);
    scope.spawn(poke_after(loop, t, 10));
    uint64_t t0 = loop.now_ms();
    Result<void> r = co_await t.wait_until(t0 + 10000);
    CHECK(r.ok());
    CHECK(loop.now_ms() - t0 < 1000);
    co_await scope.join();

    t.poke();  // nobody waiting: the next wait completes at once
    t0 = loop.now_ms();
    r = co_await t.wait_for(10000);
    CHECK(r.ok());
    CHECK(loop.now_ms() - t0 < 1000);
    co_await t.close();
  };
  run_until_complete(loop, main(loop));
}

TEST_CASE("Timer: cancel a pending wait, then reuse the timer", "[core][timer]") {
  Loop loop;
  auto main = [](Loop& loop) -> Task<void> {
    Timer t(loop);
    CancelSource src;
    TaskScope scope(loop);
    scope.spawn(cancel_after(loop, src, 5));
    Result<void> r = co_await t.wait_for(10000, src.token());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::cancelled);
    co_await scope.join();
    uint64_t t0 = loop.now_ms();
    r = co_await t.wait_for(10);
    CHECK(r.ok());
    CHECK(loop.now_ms() - t0 >= 10);
  };
  run_until_complete(loop, main(loop));
}

TEST_CASE("Timer: a concurrent second wait is refused, closing fails the pending one", "[core][timer]") {
  Loop loop;
  auto main = [](Loop& loop) -> Task<void> {
    Timer t(loop);
    std::vector<Errc> got;
    auto wait = [](Timer& t, std::vector<Errc>* got) -> Task<void> {
      FrameProbe p;
      Result<void> r = co_await t.wait_for(10000);
      got->push_back(r ? Errc::ok : r.error().code);
    };
    TaskScope scope(loop);
    scope.spawn(wait(t, &got));
    scope.spawn(wait(t, &got));
    co_await loop.yield();
    co_await loop.yield();
    REQUIRE(got.size() == 1);
    CHECK(got[0] == Errc::invalid_argument);
    co_await t.close();  // fails the first wait, completes after the close callback
    co_await scope.join();
    REQUIRE(got.size() == 2);
    CHECK(got[1] == Errc::cancelled);
    Result<void> r = co_await t.wait_for(1);
    CHECK(r.error().code == Errc::invalid_argument);  // closed
  };
  run_until_complete(loop, main(loop));
  CHECK(FrameProbe::live == 0);
}
