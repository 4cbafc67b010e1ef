#include "core/task_scope.hpp"

#include <cassert>
#include <cstdlib>

#include "common/log.hpp"

namespace ptun::core {

// The coroutine that runs one spawned task. It starts suspended (spawn queues it), and destroys
// its own frame when it finishes (final_suspend never suspends), after telling the scope.
struct TaskScope::Child {
  struct promise_type {
    Child get_return_object() noexcept {
      return Child{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    // run_child catches everything itself; reaching this would be a bug in this file.
    void unhandled_exception() noexcept { std::abort(); }
  };
  std::coroutine_handle<promise_type> h;
};

TaskScope::TaskScope(Loop& loop) : loop_(loop) {}
TaskScope::TaskScope(Loop& loop, const CancelToken& parent) : loop_(loop), cancel_(parent) {}

TaskScope::~TaskScope() {
  if (active_ != 0) {
    LOG_ERROR("core: TaskScope destroyed with %zu task(s) still running (not joined)", active_);
    std::abort();
  }
}

TaskScope::Child TaskScope::run_child(TaskScope* scope, Task<void> t) {
  std::exception_ptr err;
  try {
    co_await t;
  } catch (...) {
    err = std::current_exception();
  }
  scope->child_done(err);
}

void TaskScope::spawn(Task<void> t) {
  assert(t.valid() && "spawn of an empty Task");
  if (!t.valid()) return;
  ++active_;
  Child c = run_child(this, std::move(t));
  // The frame stays alive until it has run to completion: the scope cannot be destroyed while
  // active_ > 0, so the plain (non-intrusive) ready-queue entry cannot dangle.
  loop_.schedule(c.h);
}

void TaskScope::child_done(std::exception_ptr e) {
  if (e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      LOG_ERROR("core: spawned task failed: %s", ex.what());
    } catch (...) {
      LOG_ERROR("core: spawned task failed with a non-standard exception");
    }
    if (!first_error_) first_error_ = e;
  }
  assert(active_ > 0);
  if (--active_ == 0 && joiner_) {
    // Resumed from the ready queue, after this child's frame has been destroyed.
    loop_.schedule(joiner_->node);
    joiner_ = nullptr;
  }
}

void TaskScope::JoinAwaiter::await_suspend(std::coroutine_handle<> h) {
  assert(scope.joiner_ == nullptr && "one joiner at a time");
  node.h = h;
  scope.joiner_ = this;
}

TaskScope::JoinAwaiter::~JoinAwaiter() {
  if (scope.joiner_ == this) scope.joiner_ = nullptr;
}

Task<void> TaskScope::join() {
  JoinAwaiter a{*this, {}};
  co_await a;
  if (first_error_) std::rethrow_exception(std::exchange(first_error_, nullptr));
}

}  // namespace ptun::core
