// Which of the configured servers to try (failover), sans-I/O. The servers are tried in the
// config's order: an attempt that fails (the name does not resolve, the handshake gets no answer or
// is turned away) moves on to the next one at once; when every server has failed since the round
// began, the list wraps around and the caller waits with its reconnect backoff before the next
// round. A session that was established and is then lost starts the next round with the server
// that worked, so a client does not drift to a backup while its usual server is fine.
// A server whose name resolved to several addresses has each of them tried (in the resolver's
// order, RFC 6724) before the next server. A server that turns the client away (authentication
// refused) counts as a failure like any other; only when every attempt of a whole round was
// refused is the round `all_refused` (the caller gives up: retrying will not change a verdict).
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

  // The address of current() to try now (0-based), of how many it resolved to.
  size_t address() const { return address_; }
  size_t addresses() const { return addresses_; }
  // current() resolved to `n` addresses (0: it did not resolve); the first is tried now.
  void set_addresses(size_t n);

  struct Step {
    size_t next;              // the server to try next
    bool wrapped;             // true: every server failed this round, back off before trying `next`
    bool next_address = false;  // true: `next` is the same server, at its next address()
    bool all_refused = false;   // with wrapped: every attempt of the round was refused
  };
  // The attempt on current() (at address()) failed: moves to its next address, else to the next
  // server. `refused`: the server turned the client away (auth refused, handshake failed).
  Step on_failure(bool refused = false);
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
  void new_round();

  size_t count_ = 1, current_ = 0, last_good_ = 0, round_start_ = 0;
  size_t address_ = 0, addresses_ = 1;
  uint32_t failed_rounds_ = 0;
  size_t attempts_in_round_ = 0, refused_in_round_ = 0;
};

}  // namespace ptun::client
