// Task<T>: a lazy coroutine. Nothing runs until the task is awaited (or spawned into a TaskScope /
// run by run_until_complete); when it finishes it hands control straight back to its awaiter.
// Exceptions thrown inside are captured and rethrown at co_await: startup code may throw, I/O
// paths return Result.
//
// Control transfer (start a child, return to the parent) goes through a per-thread trampoline:
// the coroutine suspends and the resume() loop at the bottom of the stack (Loop's ready queue,
// run_until_complete) resumes the next one. Stack depth is therefore constant for any number of
// immediately-completing awaits and any await recursion depth, in every build: plain symmetric
// transfer is only a real tail call with sibling-call optimisation, which g++ does not give at
// -O0 or under ASan (measured: 100000 awaits overflowed the stack; the "symmetric transfer" cases
// of tests/core/test_task.cpp run them). A coroutine resumed by foreign code (outside
// core::resume) falls back to symmetric transfer.
//
// Ownership: the Task object owns the coroutine frame. Destroying a Task destroys its frame (and,
// recursively, the frames of the tasks it is awaiting); every awaitable in ptun::core detaches
// itself from its libuv handle in its destructor, so that is safe at any suspension point.
#pragma once
#include <coroutine>
#include <exception>
#include <optional>
#include <utility>

namespace ptun::core {

template <typename T = void>
class Task;

namespace detail {

struct Trampoline {
  std::coroutine_handle<> next;  // set by a transfer, consumed by the innermost resume() loop
  bool active = false;
};
inline thread_local Trampoline trampoline;

// Where a suspending coroutine should go next: via the trampoline if one is running.
inline std::coroutine_handle<> transfer_to(std::coroutine_handle<> to) noexcept {
  if (trampoline.active) {
    trampoline.next = to;
    return std::noop_coroutine();
  }
  return to;
}

}  // namespace detail

// Resumes `h` and every coroutine it transfers control to, with constant stack depth. All of
// ptun::core resumes coroutines through this; so should any other code that resumes a handle.
inline void resume(std::coroutine_handle<> h) {
  detail::Trampoline& t = detail::trampoline;
  struct Restore {  // also if a resume throws (a promise that rethrows from a suspend point)
    detail::Trampoline& t;
    bool outer;
    ~Restore() { t.active = outer; }
  } restore{t, t.active};
  t.active = true;
  while (h) {
    h.resume();
    h = std::exchange(t.next, {});
  }
}

namespace detail {

struct PromiseBase {
  std::coroutine_handle<> continuation;
  std::exception_ptr exception;

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <typename P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      // Back to whoever awaited us. Root tasks always have one (the scope's or
      // run_until_complete's driver); with none, return to the resumer.
      std::coroutine_handle<> c = h.promise().continuation;
      return c ? transfer_to(c) : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { exception = std::current_exception(); }
  void rethrow_if_failed() {
    if (exception) std::rethrow_exception(exception);
  }
};

template <typename T>
struct Promise : PromiseBase {
  std::optional<T> value;
  Task<T> get_return_object() noexcept;
  template <typename U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
  T take() {
    rethrow_if_failed();
    return std::move(*value);
  }
};

template <>
struct Promise<void> : PromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take() { rethrow_if_failed(); }
};

}  // namespace detail

template <typename T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  Task() = default;
  explicit Task(Handle h) noexcept : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  bool valid() const { return bool(h_); }
  bool done() const { return h_ && h_.done(); }

  struct Awaiter {
    Handle h;
    bool await_ready() const noexcept { return !h || h.done(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
      h.promise().continuation = awaiting;
      return detail::transfer_to(h);  // start the task
    }
    T await_resume() { return h.promise().take(); }
  };
  // Awaiting an rvalue or lvalue task runs it once; awaiting an empty task is undefined.
  Awaiter operator co_await() const& noexcept { return Awaiter{h_}; }

  // For the runtime (TaskScope, run_until_complete): the raw frame handle, still owned by *this.
  Handle handle() const noexcept { return h_; }

 private:
  void reset() {
    if (h_) h_.destroy();
    h_ = {};
  }
  Handle h_;
};

namespace detail {
template <typename T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}
}  // namespace detail

}  // namespace ptun::core
