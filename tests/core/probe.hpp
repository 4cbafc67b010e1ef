// NOTE: never put co_await inside a Catch2 assertion macro: g++ 12 evaluates it twice (the
// macro repeats its argument in an unevaluated-at-run-time branch that g++ still awaits).
//
// Test helpers: a frame probe (a local in a coroutine lives exactly as long as its frame) and
// small utilities shared by the core tests.
#pragma once
#include <cstdint>
#include <stdexcept>

#include "core/core.hpp"

namespace ptun::core::test {

// Counts live instances; put one in a coroutine body to count that coroutine's live frames.
struct FrameProbe {
  static inline int live = 0;
  FrameProbe() { ++live; }
  FrameProbe(const FrameProbe&) { ++live; }
  ~FrameProbe() { --live; }
};

// An awaitable that never completes and registers nowhere: only destroying the frame ends it.
struct Forever {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  void await_resume() const noexcept {}
};

}  // namespace ptun::core::test
