// The client's connect / reconnect decisions, sans-I/O (the Client wires the resolver, the socket,
// the kill switch and proto::ClientSession to it; client_servers.cpp):
//
//   begin() ----literal----> endpoint: handshake now
//      |
//      '--name--> resolve (gen) --> on_resolved(gen, answer): a stale answer (an older attempt,
//                                   `ptun down`, a reload) is dropped; a failed lookup falls back
//                                   to the server's last address, else the attempt failed
//   failed()  -> the server's next address now, else the next server (now, or after the backoff
//                once the whole list failed: ServerList), or give up: every server refused us
//   ended()   -> a lost session reconnects after the backoff (the first retry quickly), from the
//                server that worked; a session that never came up is a failed attempt; a session
//                another device took over (CLOSE replaced) waits before taking its place back
//
// It keeps the server list as values (a reload hands it a new one) and the addresses each server
// resolved to, and counts the reconnects.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/server_list.hpp"
#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "config/config.hpp"

namespace ptun::client {

class SessionDriver {
 public:
  // At least one server (the config guarantees it).
  explicit SessionDriver(std::vector<config::ServerAddress> servers);

  // A new attempt on current(). `old_rtt_ms`: the smoothed RTT of the session it replaces (a short
  // handshake timeout while reasserting). An endpoint: a literal, handshake now; none: resolve
  // current().host first and hand the answer to on_resolved(gen(), ...).
  std::optional<Endpoint> begin(std::optional<uint64_t> old_rtt_ms);
  bool resolving() const { return resolving_; }
  uint64_t gen() const { return gen_; }
  // The lookup for attempt `gen` is still wanted (not superseded, not cancelled).
  bool wants(uint64_t gen) const { return resolving_ && gen == gen_; }
  void cancel_resolve() { resolving_ = false; }

  struct Resolved {
    enum Kind { stale, connect, failed } kind = stale;
    Endpoint endpoint;          // connect: the first address to try
    size_t count = 0;           // connect: how many addresses the answer had (1 from the cache)
    bool changed = false;       // connect: the first address differs from the last one known
    bool from_cache = false;    // connect: the lookup failed; the last address known instead
    std::string error;          // failed / from_cache: the lookup's error
  };
  Resolved on_resolved(uint64_t gen, const Result<std::vector<Endpoint>>& r);

  struct Next {
    enum Kind { next_address, next_server, give_up } kind = next_server;
    Endpoint endpoint;    // next_address: the same server's next address, at once
    size_t server = 0;    // next_server: its index, tried at now + delay_ms
    uint64_t delay_ms = 0;
  };
  // The attempt on current() at `at` failed (`why`; `refused`: the server turned us away).
  // `rand01` jitters the backoff, `cap_ms` caps it (reconnect_max_secs).
  Next failed(const std::string& why, bool refused, const Endpoint& at, uint64_t now, double rand01,
              uint64_t cap_ms);
  void established();

  // Why the session ended, as far as reconnecting goes.
  enum class Why {
    lost,       // timed out, closed, shut down: reconnect
    refused,    // the reason refuses the client (authorization, handshake, version)
    replaced,   // another session of this certificate (another device) took its place
  };
  enum class End {
    reconnect,            // a lost session: reconnect_at() set, from the server that worked
    refused_in_session,   // it was up and the server refused it (revoked, pin changed): failed()
    attempt_failed,       // it never came up: failed()
    replaced,             // reconnect_at() set after the hold below, from the server that worked
  };
  // Two devices sharing one certificate would take each other's place for ever, each reconnect
  // closing the other's session: the one replaced holds back kReplacedHoldMs, doubled for each
  // replacement in a row (capped by cap_ms), so the one that connected last keeps the tunnel.
  static constexpr uint64_t kReplacedHoldMs = 10'000;
  // The session ended. `was_connected`: the state was connected (the first retry of a lost
  // session comes quickly, ~0.5 s).
  End ended(Why why, bool was_connected, uint64_t now, double rand01, uint64_t cap_ms);

  // A new network while waiting out the backoff: try again now, from the server that worked. Not
  // while holding back after a replacement: the other device is still there.
  void hurry(uint64_t now);
  // `ptun up` / an on-demand connect, a reload's new session: the backoff starts over.
  void start_over() {
    attempt_ = 0;
    replaced_ = 0;
    holding_ = false;
  }
  uint32_t replaced_in_a_row() const { return replaced_; }
  // `ptun down`, an on-demand disconnect: no reconnect, no lookup.
  void stop();
  // A reload: a new list starts from its first server with nothing known; the same list starts
  // a new round from the server that worked.
  void reload(std::vector<config::ServerAddress> servers);

  uint64_t reconnect_at() const { return reconnect_at_; }
  bool waiting() const { return reconnect_at_ != UINT64_MAX; }
  bool due(uint64_t now) const { return now >= reconnect_at_; }
  // reconnect_at_ reached and taken (the caller starts the session, or stays down).
  void clear_due() { reconnect_at_ = UINT64_MAX; }
  // The handshake's timeout: ServerList's; while `reasserting` (healing a lost session) short
  // attempts, so that a server that comes back is found within about two seconds (1.5 s + 4 RTT
  // with other servers in the list, 2.5 s + 4 RTT with one).
  uint32_t handshake_timeout_ms(bool reasserting) const;

  const config::ServerAddress& current() const { return servers_[list_.current()]; }
  const std::vector<config::ServerAddress>& servers() const { return servers_; }
  const ServerList& list() const { return list_; }
  size_t addresses() const { return addresses_.size(); }
  bool up() const { return up_; }   // the current session got as far as connected
  const std::string& last_error() const { return error_; }   // "" once connected
  uint64_t reconnects() const { return reconnects_; }

 private:
  std::vector<config::ServerAddress> servers_;
  ServerList list_;
  std::vector<std::optional<Endpoint>> resolved_;   // last address each server resolved to
  std::vector<Endpoint> addresses_;                  // current()'s addresses, tried in order
  uint32_t attempt_ = 0;                             // backoff exponent
  uint32_t replaced_ = 0;                            // sessions replaced in a row (hold exponent)
  bool holding_ = false;                             // reconnect_at_ is a replacement's hold
  uint64_t reconnect_at_ = UINT64_MAX;
  uint64_t reconnects_ = 0;
  uint64_t gen_ = 0;                                 // bumped per attempt: a stale answer is dropped
  bool resolving_ = false;
  bool up_ = false;
  uint64_t last_rtt_ms_ = 0;                         // of the session the attempt replaces
  std::string error_;
};

}  // namespace ptun::client
