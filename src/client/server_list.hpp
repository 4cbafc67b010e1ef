// Which of the configured servers to try (failover), sans-I/O. The servers are tried in the
// config's order: an attempt that fails (the name does not resolve, the handshake gets no answer or
// is turned away) moves on to the next one at once; when every server has failed since the round
// began, the list wraps around and the caller waits with its reconnect backoff before the next
// round. A session that was established and is then lost starts the next round with the server
// that worked, so a client does not drift to a backup while its usual server is fine.
//
//   start/restart --> try current() --established--> on_established(): last_good = current
//                        |  ^
//               failure  v  | now (same round)     ...all failed: wrapped -> backoff, next round
#pragma once
#include <cstddef>
#include <cstdint>

namespace ptun::client {

class ServerList {
 public:
  // `count` servers (at least one: a count of 0 is treated as 1).
  explicit ServerList(size_t count = 1) { reset(count); }

  size_t size() const { return count_; }
  // The server to try now (or in use, once established).
  size_t current() const { return current_; }
  // The server of the last established session (0 before any).
  size_t last_good() const { return last_good_; }
  // Rounds that ended with every server failed since the last restart() or on_established().
  uint32_t failed_rounds() const { return failed_rounds_; }

  struct Step {
    size_t next;    // the server to try next
    bool wrapped;   // true: every server failed this round, back off before trying `next`
  };
  // The attempt on current() failed: moves to the next server.
  Step on_failure();
  // A session with current() was established: the next round starts from it.
  void on_established();
  // A new round from the server that worked last (a lost session, a new network, `ptun up`).
  void restart();
  // A new list (config reload): from its first server, nothing known about any of them.
  void reset(size_t count);

  // How long one handshake may take before it counts as failed. One server: the session's own
  // 30 s (nothing to fail over to). Several: 5 s in the first round, so that a dead first server
  // costs seconds, doubling each failed round up to 30 s (a slow link still gets its time).
  uint32_t handshake_timeout_ms() const;

 private:
  size_t count_ = 1, current_ = 0, last_good_ = 0, round_start_ = 0;
  uint32_t failed_rounds_ = 0;
};

}  // namespace ptun::client
