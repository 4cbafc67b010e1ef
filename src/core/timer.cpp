#include "core/timer.hpp"

#include <cstring>
#include <string>

#include "core/op.hpp"

namespace ptun::core {

Error uv_error(const char* what, int status) {
  return Error(Errc::io, std::string(what) + ": " + uv_strerror(status));
}

namespace {
struct TimerWait;
struct CloseWait;
}  // namespace

struct Timer::State {
  uv_timer_t h;
  Loop* loop;
  TimerWait* waiter = nullptr;
  CloseWait* closer = nullptr;
  bool poked = false;
};

namespace {

struct TimerWait : Op<Result<void>> {
  Timer::State* st;
  uint64_t deadline;
  CancelToken token;

  TimerWait(Timer::State* s, uint64_t d, CancelToken t)
      : Op(*s->loop), st(s), deadline(d), token(std::move(t)) {}
  ~TimerWait() { detach(); }

  bool await_ready() {
    if (token.cancelled()) {
      result.emplace(cancelled_error());
      return true;
    }
    if (st->waiter) {
      result.emplace(Error(Errc::invalid_argument, "Timer: concurrent wait"));
      return true;
    }
    if (st->poked) {
      st->poked = false;
      result.emplace(ok());
      return true;
    }
    return false;
  }
  void await_suspend(std::coroutine_handle<> h) {
    node.h = h;
    (void)reg.arm(token, [](void* p) { static_cast<TimerWait*>(p)->on_cancel(); }, this);
    st->waiter = this;
    uint64_t now = loop.now_ms();
    uv_timer_start(
        &st->h,
        [](uv_timer_t* t) {
          auto* s = static_cast<Timer::State*>(t->data);
          TimerWait* w = std::exchange(s->waiter, nullptr);
          if (w) w->finish(ok());
        },
        deadline > now ? deadline - now : 0, 0);
  }
  Result<void> await_resume() { return take(); }

  void detach() {
    if (st && st->waiter == this) {
      uv_timer_stop(&st->h);
      st->waiter = nullptr;
    }
  }
  void on_cancel() {
    detach();
    finish(cancelled_error());
  }
};

// Awaits the close callback of a timer handle.
struct CloseWait {
  Timer::State* st;
  ReadyNode node;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    node.h = h;
    st->closer = this;
  }
  void await_resume() const noexcept {}
  ~CloseWait() {
    if (st) st->closer = nullptr;
  }
};

void begin_close(Timer::State* st) {
  if (TimerWait* w = st->waiter) {
    w->detach();
    w->st = nullptr;  // the state is freed by the close callback, maybe before the frame
    w->finish(cancelled_error());
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&st->h), [](uv_handle_t* h) {
    auto* s = static_cast<Timer::State*>(h->data);
    if (CloseWait* c = s->closer) {
      c->st = nullptr;
      s->loop->schedule(c->node);
    }
    delete s;
  });
}

}  // namespace

Timer::Timer(Loop& loop) : loop_(loop), st_(new State) {
  st_->loop = &loop;
  uv_timer_init(loop.raw(), &st_->h);
  st_->h.data = st_;
}

Timer::~Timer() {
  if (st_) begin_close(st_);
}

Task<Result<void>> Timer::wait_until(uint64_t deadline_ms, CancelToken token) {
  if (!st_) co_return Error(Errc::invalid_argument, "Timer: closed");
  TimerWait w(st_, deadline_ms, std::move(token));
  co_return co_await w;
}

Task<Result<void>> Timer::wait_for(uint64_t ms, CancelToken token) {
  return wait_until(loop_.now_ms() + ms, std::move(token));
}

void Timer::poke() {
  if (!st_) return;
  if (TimerWait* w = st_->waiter) {
    w->detach();
    w->finish(ok());
  } else {
    st_->poked = true;
  }
}

Task<void> Timer::close() {
  if (!st_) co_return;
  State* st = std::exchange(st_, nullptr);
  CloseWait c{st, {}};
  begin_close(st);
  co_await c;
}

Task<Result<void>> sleep_for(Loop& loop, uint64_t ms, CancelToken token) {
  Timer t(loop);
  Result<void> r = co_await t.wait_for(ms, std::move(token));
  co_await t.close();
  co_return r;
}

}  // namespace ptun::core
