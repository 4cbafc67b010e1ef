#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <semaphore>

#include "probe.hpp"

using namespace ptun;
using namespace ptun::core;

namespace {
Task<void> cancel_after(Loop& loop, CancelSource& src, uint64_t ms) {
  (void)co_await sleep_for(loop, ms);
  src.cancel();
}

// Occupies every thread of libuv's pool until release(): lookups submitted meanwhile stay queued,
// so a test knows they cannot have finished.
struct PoolBlocker {
  Loop& loop;
  std::counting_semaphore<1024> gate{0};
  std::atomic<int> after{0};
  std::vector<uv_work_t> work;
  int n;

  explicit PoolBlocker(Loop& l) : loop(l) {
    const char* env = std::getenv("UV_THREADPOOL_SIZE");
    n = env && std::atoi(env) > 0 ? std::min(std::atoi(env), 1024) : 4;
    work.resize(size_t(n));
    for (auto& w : work) {
      w.data = this;
      uv_queue_work(
          loop.raw(), &w, [](uv_work_t* w) { static_cast<PoolBlocker*>(w->data)->gate.acquire(); },
          [](uv_work_t* w, int) { static_cast<PoolBlocker*>(w->data)->after++; });
    }
  }
  Task<void> release() {
    gate.release(n);
    for (int i = 0; i < 500 && after < n; ++i) (void)co_await sleep_for(loop, 10);
    REQUIRE(after == n);
  }
};
}  // namespace

TEST_CASE("resolve_host: literals and localhost, with the port", "[core][resolver]") {
  Loop loop;
  auto main = [](Loop& loop) -> Task<void> {
    auto r = co_await resolve_host(loop, "198.18.0.2", 4433);
    REQUIRE(r.ok());
    REQUIRE(r->size() == 1);
    CHECK((*r)[0].str() == "198.18.0.2:4433");

    r = co_await resolve_host(loop, "fd00:18::2", 53);
    REQUIRE(r.ok());
    REQUIRE(r->size() == 1);
    CHECK((*r)[0].str() == "[fd00:18::2]:53");

    // "localhost" comes from /etc/hosts (files before dns in every nsswitch.conf we meet).
    r = co_await resolve_host(loop, "localhost", 9, {}, AF_INET);
    REQUIRE(r.ok());
    REQUIRE_FALSE(r->empty());
    CHECK((*r)[0].str() == "127.0.0.1:9");
    for (const auto& ep : *r) CHECK(ep.addr.is_v4());
  };
  run_until_complete(loop, main(loop));
}

TEST_CASE("resolve_host: a name that cannot resolve is not_found, an empty one invalid", "[core][resolver]") {
  Loop loop;
  auto main = [](Loop& loop) -> Task<void> {
    // An empty label: glibc refuses it before sending any query (no network needed).
    auto r = co_await resolve_host(loop, "no..such", 4433);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::not_found);
    CHECK(r.error().message.find("resolving no..such: ") == 0);

    r = co_await resolve_host(loop, "", 4433);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::invalid_argument);
  };
  run_until_complete(loop, main(loop));
}

TEST_CASE("resolve_host: cancelled before, at once and while in the pool", "[core][resolver]") {
  Loop loop;
  auto main = [](Loop& loop) -> Task<void> {
    CancelSource pre;
    pre.cancel();
    auto r = co_await resolve_host(loop, "localhost", 1, pre.token());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::cancelled);

    // Given up while queued (the pool is busy): completes with cancelled, uv_cancel takes the
    // request back and its callback frees it (ASan builds see a leak otherwise).
    {
      PoolBlocker busy(loop);
      for (int i = 0; i < 8; ++i) {
        CancelSource src;
        TaskScope scope(loop);
        scope.spawn(cancel_after(loop, src, 5));
        uint64_t t0 = loop.now_ms();
        r = co_await resolve_host(loop, "localhost", 1, src.token());
        co_await scope.join();
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == Errc::cancelled);
        CHECK(loop.now_ms() - t0 < 1000);
      }
      co_await busy.release();
    }
    // Given up while it may be running in a pool thread: the wait ends at once either way; a
    // lookup that finished first is a completion too. Workers still running when the loop is
    // destroyed are waited for by ~Loop.
    for (int i = 0; i < 16; ++i) {
      CancelSource src;
      TaskScope scope(loop);
      scope.spawn(cancel_after(loop, src, 0));
      r = co_await resolve_host(loop, "localhost", 1, src.token());
      co_await scope.join();
      if (!r.ok()) CHECK(r.error().code == Errc::cancelled);
    }
    // The pool still answers afterwards.
    r = co_await resolve_host(loop, "localhost", 2, {}, AF_INET);
    CHECK(r.ok());
  };
  run_until_complete(loop, main(loop));
}

TEST_CASE("resolve_host: eight lookups at once all complete", "[core][resolver]") {
  Loop loop;
  auto main = [](Loop& loop) -> Task<void> {
    int done = 0;
    auto one = [](Loop& loop, int* done) -> Task<void> {
      auto r = co_await resolve_host(loop, "localhost", 7, {}, AF_INET);
      CHECK(r.ok());
      ++*done;
    };
    TaskScope scope(loop);
    for (int i = 0; i < 8; ++i) scope.spawn(one(loop, &done));
    co_await scope.join();
    CHECK(done == 8);
  };
  run_until_complete(loop, main(loop));
}
