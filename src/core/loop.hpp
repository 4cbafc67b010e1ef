// Loop: owns the uv_loop_t and the ready queue.
//
// Coroutines woken by libuv callbacks are never resumed on the callback's stack (a coroutine
// resumed there could close the very handle whose callback is running). The callback queues the
// coroutine instead, and the queue is drained from a uv_check handle (right after the poll phase)
// and a uv_idle handle (which also keeps uv_run from blocking while the queue is non-empty).
//
// Two kinds of entries: plain coroutine handles (schedule(h), for frames whose owner guarantees
// they outlive the queue entry, e.g. TaskScope) and intrusive ReadyNodes embedded in awaiters: a
// ReadyNode unlinks itself when destroyed, so a frame destroyed while queued is simply skipped.
#pragma once
#include <uv.h>

#include <coroutine>
#include <cstdint>
#include <vector>

namespace ptun::core {

// A queue entry living inside an awaiter (in the coroutine frame). Not copyable or movable.
struct ReadyNode {
  ReadyNode* prev = nullptr;
  ReadyNode* next = nullptr;
  std::coroutine_handle<> h;

  ReadyNode() = default;
  ReadyNode(const ReadyNode&) = delete;
  ReadyNode& operator=(const ReadyNode&) = delete;
  ~ReadyNode() { unlink(); }
  bool queued() const { return next != nullptr; }
  void unlink() {
    if (!queued()) return;
    prev->next = next;
    next->prev = prev;
    prev = next = nullptr;
  }
};

class Loop {
 public:
  // Also sets SIGPIPE to SIG_IGN if it has the default disposition (writes to a closed socket
  // must fail with EPIPE rather than kill the process). Throws std::runtime_error if libuv fails.
  Loop();
  // Closes the loop's own handles and runs the loop until every pending close callback (of
  // objects already destroyed) has run. Every handle-owning object must be destroyed first.
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* raw() { return &loop_; }
  uint64_t now_ms() { return uv_now(&loop_); }
  // Runs until there is no more work or stop() is called.
  void run();
  // Makes run() (and run_until_complete) return at the end of the current iteration.
  void stop();
  bool stop_requested() const { return stop_requested_; }
  void clear_stop_request() { stop_requested_ = false; }

  // Queues h to be resumed from the loop (not from the caller's stack). The frame's owner must
  // keep it alive until it is resumed.
  void schedule(std::coroutine_handle<> h);
  // Queues an awaiter's node (n.h must be set). A no-op if already queued.
  void schedule(ReadyNode& n);
  bool has_ready() const { return !plain_.empty() || head_.next != &head_; }

  // co_await loop.yield(): lets the rest of the loop (I/O, other tasks) run before continuing.
  struct YieldAwaiter {
    Loop& loop;
    ReadyNode node;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      node.h = h;
      loop.schedule(node);
    }
    void await_resume() const noexcept {}
  };
  YieldAwaiter yield() { return YieldAwaiter{*this, {}}; }

  // Makes the uv_run call in progress return after this iteration without blocking for I/O; a
  // no-op outside run()/run_once() (unlike uv_stop, whose flag would outlive the call).
  void interrupt_run() {
    if (running_) uv_stop(&loop_);
  }

  // One loop iteration (UV_RUN_ONCE: blocks for I/O if nothing is ready); returns non-zero while
  // there is more work. Used by run_until_complete.
  int run_once();

 private:
  void drain();
  void arm_idle();

  uv_loop_t loop_;
  uv_check_t check_;
  uv_idle_t idle_;
  bool idle_active_ = false;
  bool stop_requested_ = false;
  bool closing_ = false;
  bool running_ = false;  // inside uv_run (run() or run_once())
  std::vector<std::coroutine_handle<>> plain_;
  std::vector<std::coroutine_handle<>> plain_draining_;
  ReadyNode head_;  // sentinel of the circular intrusive list
};

// Callback-style code with one deadline (a sans-I/O core's next_deadline()): `timer` fires `cb` once
// at `deadline_ms` (loop time; due ones on the next iteration), or is stopped for UINT64_MAX.
void start_timer_at(Loop& loop, uv_timer_t* timer, uint64_t deadline_ms, uv_timer_cb cb);

}  // namespace ptun::core
