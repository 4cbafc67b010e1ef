// run_until_complete: drive a task to completion on the loop, for main() and tests.
#pragma once
#include <coroutine>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "core/loop.hpp"
#include "core/task.hpp"

namespace ptun::core {

namespace detail {
// A root coroutine that awaits the task and records its outcome; owned by run_until_complete.
struct Driver {
  struct promise_type {
    Driver get_return_object() noexcept {
      return Driver{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }  // drive() catches everything
  };
  std::coroutine_handle<promise_type> h;
  Driver(Driver&& o) noexcept : h(std::exchange(o.h, {})) {}
  explicit Driver(std::coroutine_handle<promise_type> hh) : h(hh) {}
  ~Driver() {
    if (h) h.destroy();
  }
};

template <typename T>
Driver drive(Task<T>& t, std::optional<std::conditional_t<std::is_void_v<T>, bool, T>>& out,
             std::exception_ptr& err) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await t;
      out.emplace(true);
    } else {
      out.emplace(co_await t);
    }
  } catch (...) {
    err = std::current_exception();
  }
}
}  // namespace detail

// Runs the loop until `t` has finished and returns its value (rethrows its exception).
// Throws std::runtime_error, after destroying the task's frames, if the loop runs out of work
// first (a deadlock) or if Loop::stop() is called before the task finishes.
template <typename T>
T run_until_complete(Loop& loop, Task<T> t) {
  std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> out;
  std::exception_ptr err;
  detail::Driver d = detail::drive<T>(t, out, err);
  // Started here, on main's stack rather than from a libuv callback: no handle's callback runs.
  core::resume(d.h);
  while (!d.h.done()) {
    int more = loop.run_once();
    if (d.h.done()) break;
    if (loop.stop_requested()) {
      loop.clear_stop_request();
      throw std::runtime_error("run_until_complete: loop stopped before the task finished");
    }
    if (more == 0 && !loop.has_ready())
      throw std::runtime_error("run_until_complete: loop ran out of work before the task finished");
  }
  if (err) std::rethrow_exception(err);
  if constexpr (!std::is_void_v<T>) return std::move(*out);
}

}  // namespace ptun::core
