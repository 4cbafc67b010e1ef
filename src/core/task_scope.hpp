// TaskScope: structured concurrency. There is no fire-and-forget in ptun: every background task
// is spawned into a scope, and the scope is joined before it goes away (shutdown = cancel the
// scope, then co_await join()). A scope's destructor aborts if tasks are still running, because
// their frames would otherwise dangle or leak.
#pragma once
#include <coroutine>
#include <cstddef>
#include <exception>

#include "core/cancel.hpp"
#include "core/loop.hpp"
#include "core/task.hpp"

namespace ptun::core {

class TaskScope {
 public:
  explicit TaskScope(Loop& loop);
  // A scope that is also cancelled when `parent` is (e.g. a session scope under the server's).
  TaskScope(Loop& loop, const CancelToken& parent);
  TaskScope(const TaskScope&) = delete;
  TaskScope& operator=(const TaskScope&) = delete;
  ~TaskScope();

  // Takes ownership of `t` and starts it from the loop's ready queue (never on the caller's
  // stack). An exception escaping a spawned task is logged; the first one is rethrown by join().
  void spawn(Task<void> t);
  // Completes when every spawned task has finished (immediately if none is running). One joiner
  // at a time. Tasks spawned while joining are waited for too.
  Task<void> join();
  // Cancels token(): tasks observe it through the awaitables they pass it to.
  void cancel() { cancel_.cancel(); }
  CancelToken token() const { return cancel_.token(); }
  size_t active() const { return active_; }
  Loop& loop() { return loop_; }

 private:
  struct Child;
  static Child run_child(TaskScope* scope, Task<void> t);
  void child_done(std::exception_ptr e);

  struct JoinAwaiter {
    TaskScope& scope;
    ReadyNode node;
    bool await_ready() const noexcept { return scope.active_ == 0; }
    void await_suspend(std::coroutine_handle<> h);
    void await_resume() noexcept {}
    ~JoinAwaiter();
  };

  Loop& loop_;
  CancelSource cancel_;
  size_t active_ = 0;
  JoinAwaiter* joiner_ = nullptr;
  std::exception_ptr first_error_;
};

}  // namespace ptun::core
