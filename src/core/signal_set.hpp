// SignalSet: POSIX signals as awaitable events (uv_signal: the handler only writes to libuv's
// signal pipe; nothing runs in signal context). Signals arriving while nobody waits are queued
// (bounded, duplicates of a queued signal coalesce) and returned by the next wait().
#pragma once
#include <csignal>
#include <functional>
#include <initializer_list>
#include <span>

#include "common/result.hpp"
#include "core/cancel.hpp"
#include "core/loop.hpp"
#include "core/task.hpp"

namespace ptun::core {

// What a ptun daemon (client or server) watches: SIGHUP reloads the config (as `ptun reload`;
// OpenVPN and procd send it for that), every other signal here ends the process cleanly, the host
// restored, instead of by the default action that leaves routes, DNS and the kill switch behind.
// These are the signals whose default action terminates and that arrive asynchronously. Not
// here: SIGKILL/SIGSTOP (cannot be caught); the synchronous faults (SIGSEGV, SIGBUS, SIGFPE,
// SIGILL, SIGABRT, SIGTRAP, SIGSYS: the process state is not to be trusted, the journal restores
// the host at the next start or `ptun cleanup`); SIGPIPE (ignored, loop.cpp); SIGPROF (profilers).
inline constexpr int kReloadSignal = SIGHUP;
inline constexpr int kDaemonSignals[] = {
    SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGXCPU, SIGXFSZ, SIGIO,
#ifdef SIGPWR
    SIGPWR,
#endif
#ifdef SIGSTKFLT
    SIGSTKFLT,
#endif
};
// "SIGTERM" for SIGTERM (never null).
const char* signal_name(int signum);

class SignalSet {
 public:
  // Starts watching at once. Throws std::runtime_error if libuv refuses a signal number
  // (startup code). While a SignalSet watches a signal, its default action is replaced.
  SignalSet(Loop& loop, std::span<const int> signals);
  SignalSet(Loop& loop, std::initializer_list<int> signals)
      : SignalSet(loop, std::span<const int>(signals.begin(), signals.size())) {}
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

// A daemon's signal loop: watches kDaemonSignals, calls on_reload for each kReloadSignal, and
// returns the first other signal, or Errc::cancelled when `stop` is cancelled first.
Task<Result<int>> wait_stop_signal(Loop& loop, CancelToken stop, std::function<void()> on_reload);

}  // namespace ptun::core
