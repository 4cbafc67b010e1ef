// Timers on the loop clock (uv_now: monotonic milliseconds, updated once per loop iteration).
#pragma once
#include <cstdint>

#include "common/result.hpp"
#include "core/cancel.hpp"
#include "core/loop.hpp"
#include "core/task.hpp"

namespace ptun::core {

// Completes with ok after `ms` milliseconds, or Errc::cancelled. Either way it completes only
// after its uv_timer_t has been closed and the close callback has run.
Task<Result<void>> sleep_for(Loop& loop, uint64_t ms, CancelToken token = {});

// A reusable timer for deadline-driven loops: one uv_timer_t for the object's lifetime (its
// memory is freed by the close callback, so destroying a Timer never waits).
class Timer {
 public:
  explicit Timer(Loop& loop);
  // A pending wait completes with Errc::cancelled; the handle is closed asynchronously.
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Completes with ok when loop.now_ms() >= deadline_ms (a past deadline fires on the next loop
  // iteration, letting I/O run), early with ok after poke(), or with Errc::cancelled.
  // One wait at a time: a concurrent second wait fails with Errc::invalid_argument; so does a
  // wait after close().
  Task<Result<void>> wait_until(uint64_t deadline_ms, CancelToken token = {});
  Task<Result<void>> wait_for(uint64_t ms, CancelToken token = {});
  // Wakes a pending wait_until early (it completes with ok) — used when a deadline moves
  // earlier. With no wait pending the poke is remembered and the next wait completes at once:
  // a poke is never lost, and a spurious wake-up only makes a deadline loop recompute.
  void poke();
  // Closes the handle now (a pending wait completes with Errc::cancelled) and completes after
  // the close callback has run. Idempotent.
  Task<void> close();

  struct State;  // internal, public only for the implementation's awaiters

 private:
  Loop& loop_;
  State* st_;  // owned by the handle: deleted by its close callback
};

}  // namespace ptun::core
