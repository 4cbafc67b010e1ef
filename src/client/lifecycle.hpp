// The tunnel's lifecycle as users know it (Apple: NEVPNStatus), sans-I/O: the current state,
// since when and why, and the recent transitions (shown by `ptun status` and logged).
//
//   disconnected --up/on-demand--> connecting --established--> connected
//        ^                           |   ^                      |      ^
//        |                           |   '--(never: a lost      |      | roamed / re-established
//   disconnecting <------------------+    session reasserts)    v      |
//        ^                                                   reasserting (network change,
//        '-------------------- down / fatal -----------------   server gone; retries inside)
//
// reasserting covers both roaming (same session, new socket) and reconnecting after a lost
// session (new handshakes with backoff): the tunnel's routes stay in place meanwhile, so traffic
// waits instead of leaking. allowed() is the table; go() refuses anything else.
#pragma once
#include <cstdint>
#include <deque>
#include <string>

namespace ptun::client {

enum class State { disconnected, connecting, connected, reasserting, disconnecting };
enum class Reason {
  none, user, config, network_change, server_gone, auth_refused, reconnect, established, fatal,
  on_demand, reload, roamed
};

const char* to_string(State);
const char* to_string(Reason);

class Lifecycle {
 public:
  struct Transition {
    uint64_t at_ms;
    State from, to;
    Reason reason;
    std::string detail;
  };
  State state() const { return state_; }
  uint64_t since_ms() const { return since_ms_; }
  Reason reason() const { return reason_; }
  const std::string& detail() const { return detail_; }
  // Whether the state machine has an edge from -> to (never to itself).
  static bool allowed(State from, State to);
  // Moves to `to`; returns false (and changes nothing) if already there or not allowed().
  bool go(State to, Reason why, uint64_t now_ms, std::string detail = {});
  const std::deque<Transition>& history() const { return history_; }

 private:
  State state_ = State::disconnected;
  uint64_t since_ms_ = 0;
  Reason reason_ = Reason::none;
  std::string detail_;
  std::deque<Transition> history_;  // bounded: the last 32
};

// Reconnect delay: exponential from 500 ms, capped at `cap_ms`, with +-25% jitter from `rand01`.
uint64_t backoff_ms(uint32_t attempt, uint64_t cap_ms, double rand01);

}  // namespace ptun::client
