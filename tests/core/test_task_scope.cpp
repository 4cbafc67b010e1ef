#include <catch2/catch.hpp>

#include <stdexcept>
#include <vector>

#include "probe.hpp"

using namespace ptun;
using namespace ptun::core;
using ptun::core::test::FrameProbe;

namespace {

Task<void> sleeper(Loop& loop, uint64_t ms, int id, std::vector<int>* order, CancelToken tok,
                   std::vector<Errc>* results) {
  FrameProbe p;
  Result<void> r = co_await sleep_for(loop, ms, tok);
  if (results) results->push_back(r ? Errc::ok : r.error().code);
  if (order) order->push_back(id);
}

Task<void> failing(Loop& loop) {
  co_await loop.yield();
  throw std::runtime_error("child failed");
}

}  // namespace

TEST_CASE("TaskScope runs spawned tasks and join waits for all of them", "[core][scope]") {
  Loop loop;
  std::vector<int> order;
  auto main = [](Loop& loop, std::vector<int>* order) -> Task<size_t> {
    TaskScope scope(loop);
    // 100 ms apart: the sleepers start in loop iterations of their own, and on a loaded machine
    // (a compile beside the tests) an iteration can stall for tens of milliseconds.
    scope.spawn(sleeper(loop, 220, 3, order, {}, nullptr));
    scope.spawn(sleeper(loop, 20, 1, order, {}, nullptr));
    scope.spawn(sleeper(loop, 120, 2, order, {}, nullptr));
    size_t started = scope.active();
    co_await scope.join();
    CHECK(scope.active() == 0);
    co_return started;
  };
  CHECK(run_until_complete(loop, main(loop, &order)) == 3);
  CHECK(order == std::vector<int>{1, 2, 3});
  CHECK(FrameProbe::live == 0);
}

TEST_CASE("TaskScope spawn does not run the task on the caller's stack", "[core][scope]") {
  Loop loop;
  auto main = [](Loop& loop) -> Task<void> {
    TaskScope scope(loop);
    bool ran = false;
    auto set = [](bool* f) -> Task<void> {
      *f = true;
      co_return;
    };
    scope.spawn(set(&ran));
    CHECK_FALSE(ran);
    co_await scope.join();
    CHECK(ran);
  };
  run_until_complete(loop, main(loop));
}

TEST_CASE("TaskScope join with nothing spawned completes at once", "[core][scope]") {
  Loop loop;
  auto main = [](Loop& loop) -> Task<void> {
    TaskScope scope(loop);
    co_await scope.join();
  };
  run_until_complete(loop, main(loop));
}

TEST_CASE("TaskScope cancel ends waiting tasks with Errc::cancelled", "[core][scope]") {
  Loop loop;
  std::vector<Errc> results;
  auto main = [](Loop& loop, std::vector<Errc>* results) -> Task<uint64_t> {
    TaskScope scope(loop);
    for (int i = 0; i < 5; ++i) scope.spawn(sleeper(loop, 10000, i, nullptr, scope.token(), results));
    uint64_t t0 = loop.now_ms();
    (void)co_await sleep_for(loop, 10);
    scope.cancel();
    co_await scope.join();
    co_return loop.now_ms() - t0;
  };
  uint64_t elapsed = run_until_complete(loop, main(loop, &results));
  CHECK(elapsed < 1000);
  REQUIRE(results.size() == 5);
  for (Errc e : results) CHECK(e == Errc::cancelled);
  CHECK(FrameProbe::live == 0);
}

TEST_CASE("TaskScope with a parent token is cancelled with its parent", "[core][scope]") {
  Loop loop;
  std::vector<Errc> results;
  auto main = [](Loop& loop, std::vector<Errc>* results) -> Task<void> {
    CancelSource server;
    TaskScope session(loop, server.token());
    session.spawn(sleeper(loop, 10000, 0, nullptr, session.token(), results));
    (void)co_await sleep_for(loop, 5);
    server.cancel();
    co_await session.join();
  };
  run_until_complete(loop, main(loop, &results));
  REQUIRE(results.size() == 1);
  CHECK(results[0] == Errc::cancelled);
}

TEST_CASE("TaskScope join rethrows the first exception of a spawned task", "[core][scope]") {
  Loop loop;
  auto main = [](Loop& loop) -> Task<void> {
    TaskScope scope(loop);
    scope.spawn(failing(loop));
    scope.spawn(sleeper(loop, 5, 0, nullptr, {}, nullptr));
    co_await scope.join();
  };
  CHECK_THROWS_WITH(run_until_complete(loop, main(loop)), "child failed");
  CHECK(FrameProbe::live == 0);
}

TEST_CASE("CancelSource runs callbacks once, tokens observe it, registrations disarm", "[core][cancel]") {
  CancelSource src;
  CancelToken tok = src.token();
  CancelToken never;
  CHECK_FALSE(never.can_cancel());
  CHECK(tok.can_cancel());
  int calls = 0;
  CancelRegistration a, b;
  REQUIRE(a.arm(tok, [](void* p) { ++*static_cast<int*>(p); }, &calls));
  REQUIRE(b.arm(tok, [](void* p) { ++*static_cast<int*>(p); }, &calls));
  b.disarm();
  CHECK(a.armed());
  src.cancel();
  src.cancel();
  CHECK(calls == 1);
  CHECK(tok.cancelled());
  CHECK_FALSE(a.armed());
  CancelRegistration c;
  CHECK_FALSE(c.arm(tok, [](void*) {}, nullptr));  // already cancelled: caller handles it
  CHECK(c.arm(never, [](void*) {}, nullptr));
  CancelSource child(tok);
  CHECK(child.cancelled());
}
