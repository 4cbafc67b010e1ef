#include "core/loop.hpp"

#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "common/log.hpp"
#include "core/task.hpp"

namespace ptun::core {

Loop::Loop() {
  // A peer closing a socket must surface as EPIPE on the write, not kill the daemon: libuv
  // writes with write()/writev(), which raise SIGPIPE. Only a default disposition is changed.
  struct sigaction sa {};
  if (sigaction(SIGPIPE, nullptr, &sa) == 0 && sa.sa_handler == SIG_DFL) std::signal(SIGPIPE, SIG_IGN);
  int rc = uv_loop_init(&loop_);
  if (rc != 0) throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
  head_.prev = head_.next = &head_;
  uv_check_init(&loop_, &check_);
  check_.data = this;
  uv_check_start(&check_, [](uv_check_t* h) { static_cast<Loop*>(h->data)->drain(); });
  uv_unref(reinterpret_cast<uv_handle_t*>(&check_));  // the check alone must not keep run() alive
  uv_idle_init(&loop_, &idle_);
  idle_.data = this;
}

Loop::~Loop() {
  closing_ = true;
  // Frames still queued are not resumed: their owners destroy them (or already did).
  plain_.clear();
  while (head_.next != &head_) head_.next->unlink();
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);
  // Close callbacks of objects destroyed before us free their handle memory: let them run.
  // NOWAIT, bounded: a handle leaked by its owner must not hang shutdown.
  for (int i = 0; i < 64; ++i) {
    // A thread-pool request (a name lookup given up by its awaiter) still running reports to
    // this loop when its worker ends: block until it has, the loop must not be freed under it.
    // Bounded by the request itself (resolver timeouts), not by handles.
    uv_run(&loop_, loop_.active_reqs.count > 0 ? UV_RUN_ONCE : UV_RUN_NOWAIT);
    if (uv_loop_close(&loop_) == 0) return;
  }
  LOG_ERROR("core: event loop destroyed with live libuv handles (an owner was not destroyed first)");
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        LOG_ERROR("core:   live handle type %s%s", uv_handle_type_name(h->type),
                  uv_is_closing(h) ? " (closing)" : "");
      },
      nullptr);
}

void Loop::run() {
  running_ = true;
  uv_run(&loop_, UV_RUN_DEFAULT);
  running_ = false;
  stop_requested_ = false;
}

int Loop::run_once() {
  running_ = true;
  int more = uv_run(&loop_, UV_RUN_ONCE);
  running_ = false;
  return more;
}

void Loop::stop() {
  stop_requested_ = true;
  uv_stop(&loop_);
}

void Loop::arm_idle() {
  if (idle_active_ || closing_) return;
  idle_active_ = true;
  uv_idle_start(&idle_, [](uv_idle_t* h) { static_cast<Loop*>(h->data)->drain(); });
}

void Loop::schedule(std::coroutine_handle<> h) {
  if (closing_) return;
  plain_.push_back(h);
  arm_idle();
}

void Loop::schedule(ReadyNode& n) {
  if (n.queued() || closing_) return;
  n.prev = head_.prev;
  n.next = &head_;
  head_.prev->next = &n;
  head_.prev = &n;
  arm_idle();
}

void Loop::drain() {
  // Resume only what was queued before this drain began; a coroutine that queues itself again
  // (yield) waits for the next iteration, so I/O is never starved.
  plain_draining_.swap(plain_);
  ReadyNode local;
  local.prev = local.next = &local;
  if (head_.next != &head_) {
    local.next = head_.next;
    local.prev = head_.prev;
    local.next->prev = &local;
    local.prev->next = &local;
    head_.prev = head_.next = &head_;
  }
  for (size_t i = 0; i < plain_draining_.size(); ++i) core::resume(plain_draining_[i]);
  plain_draining_.clear();
  // A node whose frame is destroyed meanwhile unlinks itself from `local`.
  while (local.next != &local) {
    ReadyNode* n = local.next;
    n->unlink();
    core::resume(n->h);
  }
  if (!has_ready() && idle_active_) {
    idle_active_ = false;
    uv_idle_stop(&idle_);
  }
}

void start_timer_at(Loop& loop, uv_timer_t* timer, uint64_t deadline_ms, uv_timer_cb cb) {
  if (deadline_ms == UINT64_MAX) {
    uv_timer_stop(timer);
    return;
  }
  uint64_t now = loop.now_ms();
  uv_timer_start(timer, cb, deadline_ms > now ? deadline_ms - now : 1, 0);
}

}  // namespace ptun::core
