#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "probe.hpp"

using namespace ptun::core;
using ptun::core::test::FrameProbe;

namespace {

Task<int> answer() { co_return 42; }
Task<int> add_one(int x) {
  int v = co_await answer();
  co_return v + x;
}
Task<void> set_flag(bool* flag) {
  *flag = true;
  co_return;
}
Task<int> thrower() {
  throw std::runtime_error("boom");
  co_return 0;
}
Task<int> rethrow_through() {
  int v = co_await thrower();  // throws here
  co_return v;
}
Task<std::unique_ptr<std::string>> move_only() { co_return std::make_unique<std::string>("moved"); }

Task<int> immediate(int i) {
  FrameProbe p;
  co_return i;
}
Task<int64_t> long_chain(int n) {  // the sum passes 2^31: not long (32 bits on armhf, MIPS)
  int64_t sum = 0;
  for (int i = 0; i < n; ++i) sum += co_await immediate(i);
  co_return sum;
}
Task<int> deep(int depth) {
  FrameProbe p;
  if (depth == 0) co_return 0;
  co_return 1 + co_await deep(depth - 1);
}

Task<int> yield_counter(Loop& loop, int* counter, int n) {
  for (int i = 0; i < n; ++i) {
    co_await loop.yield();
    ++*counter;
  }
  co_return *counter;
}

}  // namespace

TEST_CASE("Task returns values, void and move-only results", "[core][task]") {
  Loop loop;
  CHECK(run_until_complete(loop, answer()) == 42);
  CHECK(run_until_complete(loop, add_one(1)) == 43);
  bool flag = false;
  run_until_complete(loop, set_flag(&flag));
  CHECK(flag);
  auto s = run_until_complete(loop, move_only());
  REQUIRE(s);
  CHECK(*s == "moved");
}

TEST_CASE("Task is lazy: nothing runs until awaited, destroying it unstarted is fine", "[core][task]") {
  bool flag = false;
  {
    Task<void> t = set_flag(&flag);
    CHECK(t.valid());
    CHECK_FALSE(t.done());
  }
  CHECK_FALSE(flag);
}

TEST_CASE("Task exceptions propagate to the awaiter and out of run_until_complete", "[core][task]") {
  Loop loop;
  CHECK_THROWS_WITH(run_until_complete(loop, thrower()), "boom");
  CHECK_THROWS_WITH(run_until_complete(loop, rethrow_through()), "boom");
}

TEST_CASE("symmetric transfer: 100000 immediately-completing awaits do not grow the stack",
          "[core][task]") {
  Loop loop;
  const int n = 100000;
  CHECK(run_until_complete(loop, long_chain(n)) == int64_t(n) * (n - 1) / 2);
  CHECK(FrameProbe::live == 0);
}

TEST_CASE("symmetric transfer: a 100000-deep recursion of awaits", "[core][task]") {
  Loop loop;
  CHECK(run_until_complete(loop, deep(100000)) == 100000);
  CHECK(FrameProbe::live == 0);
}

TEST_CASE("Loop::yield resumes through the ready queue", "[core][task]") {
  Loop loop;
  int counter = 0;
  CHECK(run_until_complete(loop, yield_counter(loop, &counter, 1000)) == 1000);
}

TEST_CASE("run_until_complete reports a task that can never finish", "[core][task]") {
  Loop loop;
  auto stuck = []() -> Task<int> {
    FrameProbe p;
    co_await ptun::core::test::Forever{};
    co_return 1;
  };
  CHECK_THROWS_AS(run_until_complete(loop, stuck()), std::runtime_error);
  CHECK(FrameProbe::live == 0);  // the suspended frame was destroyed
}

TEST_CASE("run_until_complete returns as soon as the task is done, not at the next event",
          "[core][task][root]") {
  uv_timer_t other;  // unrelated long timer; declared before the loop so it outlives the close pass
  Loop loop;
  uv_timer_init(loop.raw(), &other);
  uv_timer_start(&other, [](uv_timer_t*) {}, 10000, 0);
  int counter = 0;
  auto t0 = std::chrono::steady_clock::now();
  CHECK(run_until_complete(loop, yield_counter(loop, &counter, 3)) == 3);
  // sleep_for completes after its close callback, i.e. from the idle phase before poll.
  CHECK(run_until_complete(loop, sleep_for(loop, 5)).ok());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  // No stale stop request: run() still runs until there is no more work.
  uv_timer_start(&other, [](uv_timer_t* t) { uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr); }, 5, 0);
  loop.run();
  CHECK(uv_is_closing(reinterpret_cast<uv_handle_t*>(&other)));
}
