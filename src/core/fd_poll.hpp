// FdPoll: readiness of a raw non-blocking fd (TUN, netlink, ptun's own UDP socket) via one
// long-lived uv_poll_t. libuv allows one poll handle per fd, so an FdPoll serves any number of
// concurrent waiters (typically one reader and one writer); the handle watches the union of their
// events. When the last waiter is woken the handle stays armed (the waiter drains the fd and
// waits again before the next epoll_wait: no epoll_ctl churn per packet) but stops counting for
// uv_run; an event that nobody waits for stops or narrows it.
#pragma once
#include <coroutine>

#include "common/result.hpp"
#include "core/cancel.hpp"
#include "core/loop.hpp"
#include "core/op.hpp"
#include "core/task.hpp"

namespace ptun::core {

class FdPoll {
 public:
  struct State;

  // The awaiter behind wait(); usable directly (co_await poll.until(...)) to save the Task frame
  // on hot paths. Completes with the ready events (a non-empty subset of the requested ones),
  // Errc::cancelled, Errc::closed (the FdPoll was closed or destroyed) or Errc::io.
  struct Link {  // a waiter's links in State's circular waiter list
    Link* prev = nullptr;
    Link* next = nullptr;
  };
  struct Awaiter : Op<Result<int>>, Link {
    State* st;
    int events;
    CancelToken token;

    Awaiter(Loop& loop, State* s, int ev, CancelToken t);
    ~Awaiter();
    bool await_ready();
    void await_suspend(std::coroutine_handle<> h);
    Result<int> await_resume() { return take(); }
    void detach();  // leaves the waiter list and re-arms the poll
  };

  // fd must be non-blocking; FdPoll neither owns nor closes it, but the fd must stay open until
  // the FdPoll is closed or destroyed. If libuv refuses the fd (e.g. a regular file), every
  // wait fails with that error.
  FdPoll(Loop& loop, int fd);
  FdPoll(FdPoll&& o) noexcept;
  FdPoll& operator=(FdPoll&& o) noexcept;
  FdPoll(const FdPoll&) = delete;
  FdPoll& operator=(const FdPoll&) = delete;
  ~FdPoll() { close(); }

  // events: UV_READABLE and/or UV_WRITABLE.
  Task<Result<int>> wait(int events, CancelToken token = {});
  Awaiter until(int events, CancelToken token = {}) { return Awaiter(*loop_, st_, events, std::move(token)); }
  // Pending waits complete with Errc::closed; the uv_poll handle is stopped at once (so the fd
  // may be closed right after this returns) and freed by its close callback. Idempotent.
  void close();
  bool is_open() const { return st_ != nullptr; }
  int fd() const { return fd_; }

 private:
  Loop* loop_;
  State* st_;  // owned by the handle once initialised; nullptr when closed
  int fd_;
};

}  // namespace ptun::core
