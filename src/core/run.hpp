// run_until_complete: drive a task to completion on the loop, for main() and tests.
#pragma once
#include <coroutine>
#include <exception>
#include <exception>
#include <stdexcept>
#include <utility>

#include "core/loop.hpp"
#include "core/task.hpp"

namespace ptun::core {

namespace detail {
// A non-template root coroutine (defined in run.cpp) installed as the task's continuation: when
// the task finishes it makes the current uv_run return without blocking in poll. It is not a
// template on purpose: clang 14 with -fsanitize=function (part of "undefined") fails to compile
// inline/template free-function coroutines ("Cannot represent a difference across sections").
struct RootSignal {
  struct promise_type {
    RootSignal get_return_object() noexcept {
      return RootSignal{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  std::coroutine_handle<promise_type> h;
  RootSignal(RootSignal&& o) noexcept : h(std::exchange(o.h, {})) {}
  RootSignal& operator=(RootSignal&&) = delete;
  explicit RootSignal(std::coroutine_handle<promise_type> hh) : h(hh) {}
  ~RootSignal() {
    if (h) h.destroy();
  }
};
RootSignal root_signal(Loop& loop);
}  // namespace detail

// Runs the loop until `t` has finished and returns its value (rethrows its exception).
// Throws std::runtime_error, after destroying the task's frames, if the loop runs out of work
// first (a deadlock) or if Loop::stop() is called before the task finishes.
template <typename T>
T run_until_complete(Loop& loop, Task<T> t) {
  detail::RootSignal root = detail::root_signal(loop);
  auto h = t.handle();
  h.promise().continuation = root.h;
  // Started here, on main's stack rather than from a libuv callback: no handle's callback runs.
  core::resume(h);
  while (!h.done()) {
    int more = loop.run_once();
    if (h.done()) break;
    if (loop.stop_requested()) {
      loop.clear_stop_request();
      throw std::runtime_error("run_until_complete: loop stopped before the task finished");
    }
    if (more == 0 && !loop.has_ready())
      throw std::runtime_error("run_until_complete: loop ran out of work before the task finished");
  }
  return h.promise().take();  // rethrows the task's exception
}

}  // namespace ptun::core
