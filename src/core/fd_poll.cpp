#include "core/fd_poll.hpp"

#include <utility>

namespace ptun::core {

struct FdPoll::State {
  uv_poll_t h;
  Loop* loop = nullptr;
  int init_status = 0;  // uv_poll_init's result; the handle exists only if 0
  int armed = 0;        // events the handle currently watches
  Link head;  // sentinel of the circular waiter list

  State() { head.prev = head.next = &head; }
  bool empty() const { return head.next == &head; }
  void rearm();                  // watch exactly what the waiters want (stops when none)
  void arm_at_least(int events);  // watch these too; never narrows
  // An armed handle nobody waits on must not keep uv_run alive (a loop whose work is done
  // exits, as it did when the handle was stopped at once): unref'd while idle, ref'd again by a
  // waiter. No system call either way.
  void hold(bool waited_on) {
    if (init_status != 0) return;
    if (waited_on) uv_ref(reinterpret_cast<uv_handle_t*>(&h));
    else uv_unref(reinterpret_cast<uv_handle_t*>(&h));
  }
  void fail_all(const Error& e);
};

namespace {
void on_poll(uv_poll_t* h, int status, int events) {
  auto* st = static_cast<FdPoll::State*>(h->data);
  if (status < 0) {
    st->fail_all(uv_error("poll", status));
    return;
  }
  // Walk with a saved successor: finishing a waiter unlinks it.
  bool wanted = false;
  for (FdPoll::Link* l = st->head.next; l != &st->head;) {
    FdPoll::Link* next = l->next;
    auto* w = static_cast<FdPoll::Awaiter*>(l);
    if (int ready = w->events & events) {
      w->prev->next = w->next;
      w->next->prev = w->prev;
      w->prev = w->next = nullptr;
      w->finish(ready);
      wanted = true;
    }
    l = next;
  }
  // Lazy disarm: a waiter that was just woken drains the fd and waits again from the loop's
  // check phase, before the next epoll_wait, so the handle stays armed as it is (stopping and
  // restarting it cost 6 epoll_ctl calls per ping through the tunnel, one round trip of the
  // client and server). Only an event nobody waits for narrows it (level-triggered epoll would
  // otherwise report it again and again).
  if (!wanted) st->rearm();
  else if (st->empty()) st->hold(false);
}
}  // namespace

void FdPoll::State::rearm() {
  int want = 0;
  for (Link* l = head.next; l != &head; l = l->next) want |= static_cast<Awaiter*>(l)->events;
  if (want == armed) return;
  armed = want;
  if (want == 0) {
    uv_poll_stop(&h);
    return;
  }
  int rc = uv_poll_start(&h, want, on_poll);
  if (rc < 0) {
    armed = 0;
    fail_all(uv_error("uv_poll_start", rc));
  }
}

void FdPoll::State::arm_at_least(int events) {
  hold(true);
  if ((armed & events) == events) return;
  int want = armed | events;
  armed = want;
  int rc = uv_poll_start(&h, want, on_poll);
  if (rc < 0) {
    armed = 0;
    fail_all(uv_error("uv_poll_start", rc));
  }
}

void FdPoll::State::fail_all(const Error& e) {
  while (!empty()) {
    auto* w = static_cast<Awaiter*>(head.next);
    w->prev->next = w->next;
    w->next->prev = w->prev;
    w->prev = w->next = nullptr;
    w->finish(e);
  }
  if (armed && init_status == 0) uv_poll_stop(&h);
  armed = 0;
}

FdPoll::Awaiter::Awaiter(Loop& loop, State* s, int ev, CancelToken t)
    : Op(loop), st(s), events(ev), token(std::move(t)) {}

FdPoll::Awaiter::~Awaiter() {
  if (prev) detach();
}

bool FdPoll::Awaiter::await_ready() {
  if (!st) {
    result.emplace(closed_error());
  } else if (st->init_status < 0) {
    result.emplace(uv_error("uv_poll_init", st->init_status));
  } else if ((events & (UV_READABLE | UV_WRITABLE)) == 0) {
    result.emplace(Error(Errc::invalid_argument, "FdPoll: no events requested"));
  } else if (token.cancelled()) {
    result.emplace(cancelled_error());
  }
  return result.has_value();
}

void FdPoll::Awaiter::await_suspend(std::coroutine_handle<> h) {
  node.h = h;
  (void)reg.arm(
      token,
      [](void* p) {
        auto* w = static_cast<Awaiter*>(p);
        w->detach();
        w->finish(cancelled_error());
      },
      this);
  Link* self = this;
  prev = st->head.prev;
  next = &st->head;
  st->head.prev->next = self;
  st->head.prev = self;
  st->arm_at_least(events);  // may fail every waiter, this one included (finish() queues us: no re-entrancy)
}

void FdPoll::Awaiter::detach() {
  if (!prev) return;
  prev->next = next;
  next->prev = prev;
  prev = next = nullptr;
  // Lazy as in on_poll: the handle keeps watching; an event nobody waits for narrows it.
  if (st && st->empty()) st->hold(false);
}

FdPoll::FdPoll(Loop& loop, int fd) : loop_(&loop), st_(new State), fd_(fd) {
  st_->loop = &loop;
  st_->init_status = uv_poll_init(loop.raw(), &st_->h, fd);
  st_->h.data = st_;
}

FdPoll::FdPoll(FdPoll&& o) noexcept
    : loop_(o.loop_), st_(std::exchange(o.st_, nullptr)), fd_(std::exchange(o.fd_, -1)) {}

FdPoll& FdPoll::operator=(FdPoll&& o) noexcept {
  if (this != &o) {
    close();
    loop_ = o.loop_;
    st_ = std::exchange(o.st_, nullptr);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

Task<Result<int>> FdPoll::wait(int events, CancelToken token) {
  Awaiter a(*loop_, st_, events, std::move(token));
  co_return co_await a;
}

void FdPoll::close() {
  State* st = std::exchange(st_, nullptr);
  if (!st) return;
  // Waiters keep a pointer to the state only while linked; unlink them all before it goes away.
  for (Link* l = st->head.next; l != &st->head; l = l->next) static_cast<Awaiter*>(l)->st = nullptr;
  st->fail_all(closed_error());
  if (st->init_status < 0) {
    delete st;
    return;
  }
  // uv_close stops the poll synchronously (epoll_ctl DEL): the fd may be closed after this.
  uv_close(reinterpret_cast<uv_handle_t*>(&st->h),
           [](uv_handle_t* h) { delete static_cast<State*>(h->data); });
}

}  // namespace ptun::core
