// SignalSet: POSIX signals as awaitable events (uv_signal: the handler only writes to libuv's
// signal pipe; nothing runs in signal context). Signals arriving while nobody waits are queued
// (bounded, duplicates of a queued signal coalesce) and returned by the next wait().
#pragma once
#include <initializer_list>

#include "common/result.hpp"
#include "core/cancel.hpp"
#include "core/loop.hpp"
#include "core/task.hpp"

namespace ptun::core {

class SignalSet {
 public:
  // Starts watching at once. Throws std::runtime_error if libuv refuses a signal number
  // (startup code). While a SignalSet watches a signal, its default action is replaced.
  SignalSet(Loop& loop, std::initializer_list<int> signals);
  // A pending wait completes with Errc::closed; the handles are closed asynchronously (libuv
  // restores the default disposition once the last watcher of a signal stops).
  ~SignalSet();
  SignalSet(const SignalSet&) = delete;
  SignalSet& operator=(const SignalSet&) = delete;

  // The next signal number (oldest queued first), or Errc::cancelled. One wait at a time
  // (a concurrent second wait fails with Errc::invalid_argument).
  Task<Result<int>> wait(CancelToken token = {});

  struct State;

 private:
  void release();

  State* st_;  // freed by the last handle's close callback
};

}  // namespace ptun::core
