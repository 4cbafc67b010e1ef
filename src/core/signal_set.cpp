#include "core/signal_set.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/op.hpp"

namespace ptun::core {

namespace {
struct SignalWait;
constexpr size_t kMaxQueued = 16;  // distinct signals pending at most; duplicates coalesce
}  // namespace

struct SignalSet::State {
  Loop* loop = nullptr;
  std::vector<uv_signal_t> handles;  // sized once, never reallocated (libuv holds pointers)
  size_t open = 0;                   // handles not yet through their close callback
  std::deque<int> queued;
  SignalWait* waiter = nullptr;

  void on_signal(int signum);
};

namespace {

struct SignalWait : Op<Result<int>> {
  SignalSet::State* st;
  CancelToken token;

  SignalWait(SignalSet::State* s, CancelToken t) : Op(*s->loop), st(s), token(std::move(t)) {}
  ~SignalWait() { detach(); }
  void detach() {
    if (st && st->waiter == this) st->waiter = nullptr;
  }
  bool await_ready() {
    if (token.cancelled()) {
      result.emplace(cancelled_error());
    } else if (st->waiter) {
      result.emplace(Error(Errc::invalid_argument, "SignalSet: concurrent wait"));
    } else if (!st->queued.empty()) {
      result.emplace(st->queued.front());
      st->queued.pop_front();
    }
    return result.has_value();
  }
  void await_suspend(std::coroutine_handle<> h) {
    node.h = h;
    (void)reg.arm(
        token,
        [](void* p) {
          auto* w = static_cast<SignalWait*>(p);
          w->detach();
          w->finish(cancelled_error());
        },
        this);
    st->waiter = this;
  }
  Result<int> await_resume() { return take(); }
};

}  // namespace

void SignalSet::State::on_signal(int signum) {
  if (SignalWait* w = std::exchange(waiter, nullptr)) {
    w->finish(signum);
    return;
  }
  if (std::find(queued.begin(), queued.end(), signum) != queued.end()) return;
  if (queued.size() < kMaxQueued) queued.push_back(signum);
}

const char* signal_name(int signum) {
  static thread_local char buf[32];
  if (const char* abbrev = sigabbrev_np(signum))
    std::snprintf(buf, sizeof buf, "SIG%s", abbrev);
  else
    std::snprintf(buf, sizeof buf, "signal %d", signum);
  return buf;
}

SignalSet::SignalSet(Loop& loop, std::span<const int> signals) : st_(new State) {
  st_->loop = &loop;
  st_->handles.resize(signals.size());
  size_t i = 0;
  for (int signum : signals) {
    uv_signal_t* h = &st_->handles[i++];
    uv_signal_init(loop.raw(), h);
    h->data = st_;
    ++st_->open;
    int rc = uv_signal_start(
        h, [](uv_signal_t* s, int n) { static_cast<State*>(s->data)->on_signal(n); }, signum);
    if (rc != 0) {
      release();  // close what was opened: those handles are already in the loop
      throw std::runtime_error("uv_signal_start(" + std::to_string(signum) + "): " + uv_strerror(rc));
    }
  }
}

SignalSet::~SignalSet() { release(); }

void SignalSet::release() {
  State* st = std::exchange(st_, nullptr);
  if (!st) return;
  if (SignalWait* w = std::exchange(st->waiter, nullptr)) {
    w->st = nullptr;  // the state is freed by the close callbacks, maybe before the frame
    w->finish(closed_error());
  }
  if (st->open == 0) {
    delete st;
    return;
  }
  const size_t n = st->open;  // only the first `open` handles were initialised
  for (size_t i = 0; i < n; ++i) {
    uv_close(reinterpret_cast<uv_handle_t*>(&st->handles[i]), [](uv_handle_t* h) {
      auto* s = static_cast<State*>(h->data);
      if (--s->open == 0) delete s;
    });
  }
}

Task<Result<int>> SignalSet::wait(CancelToken token) {
  if (!st_) co_return closed_error();
  SignalWait w(st_, std::move(token));
  co_return co_await w;
}

Task<Result<int>> wait_stop_signal(Loop& loop, CancelToken stop, std::function<void()> on_reload) {
  SignalSet signals(loop, kDaemonSignals);
  for (;;) {
    auto sig = co_await signals.wait(stop);
    if (!sig || *sig != kReloadSignal) co_return sig;
    on_reload();
  }
}

}  // namespace ptun::core
