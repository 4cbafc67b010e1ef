// The client's path decisions, sans-I/O (the Client wires the route lookups, the socket and the
// session to it; client_path.cpp):
//   on_path()      a new look at the route to the server -> what the session should do: roam an
//                  established session, reconnect now instead of waiting out the backoff, start a
//                  handshake over again from the new path, or report that there is no route;
//   roaming        after the socket moved: confirmed by a PONG on the new path, else one PING per
//                  kRoamPingMs, and after kRoamPings unanswered a new handshake (give_up);
//   on-demand      whether a network change (or a forced look) runs the rules again, and one
//                  evaluation's probe loop (OnDemandRound), bounded.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/net_addr.hpp"
#include "ondemand/rules.hpp"

namespace ptun::client {

// The route to the server with ptun's fwmark, as the kernel answers it.
struct Path {
  int ifindex = 0;                 // 0: no route to the server
  std::string ifname;
  std::optional<IpAddr> source, gateway;
  bool operator==(const Path&) const = default;
  // "eth0 src 192.168.1.10", or "none".
  std::string str() const;
};

// Where the client's session stands when the path changes.
enum class SessionPhase { idle, handshaking, established, waiting_to_reconnect };

class PathWatcher {
 public:
  static constexpr uint32_t kRoamPings = 3;   // one per kRoamPingMs, then a new handshake
  static constexpr uint64_t kRoamPingMs = 1000;

  enum class Change {
    none,                // the same path, the tunnel is down on purpose, or nothing to do
    no_route,            // no route to the server: keep the session, say so (roaming stops)
    roam,                // an established session moves to the new path
    reconnect_now,       // waiting out the backoff: try at once, from the server that worked last
    restart_handshake,   // mid-handshake on the old path: start over from the new one
  };
  // The starting point (the first look, or the route to a new server): not a change.
  void reset(const Path& p) { path_ = p; }
  // `want_up`: false after `ptun down` or an on-demand disconnect (the change is only counted).
  Change on_path(const Path& p, bool want_up, SessionPhase phase);
  const Path& path() const { return path_; }

  // The socket moved and the first PING is out; `pongs`: the session's PONGs received so far.
  void roam_started(uint64_t now, uint64_t pongs);
  // The socket could not move: the caller starts a new handshake.
  void roam_failed() { ++roam_failures_; }
  // A PONG newer than the roam's start arrived while the session lives.
  bool confirmed(uint64_t pongs, bool session_alive) const {
    return roaming_ && session_alive && pongs > pongs_mark_;
  }
  enum class RoamStep {
    wait,        // not roaming, or before the deadline
    confirmed,   // the same session over the new path: connected again
    ping,        // no answer yet: PING again (deadline moved)
    give_up,     // kRoamPings unanswered: a new handshake
    dropped,     // the session went meanwhile: nothing left to roam
  };
  // At the deadline or after a PONG. `established`: the session is still up.
  RoamStep on_timer(uint64_t now, uint64_t pongs, bool session_alive, bool established);
  void cancel() {
    roaming_ = false;
    deadline_ = UINT64_MAX;
  }
  bool roaming() const { return roaming_; }
  uint64_t deadline() const { return deadline_; }
  uint32_t pings() const { return pings_; }
  uint64_t roam_started_ms() const { return started_ms_; }

  // On-demand: `n` is the network as of now; true if the rules should run (the first look, a
  // forced look after a reload or `ptun up`, or a different network). Keeps `n`.
  bool network_seen(ondemand::Network n, bool forced);
  const ondemand::Network& network() const { return network_; }
  void decided(const ondemand::Decision& d) { decision_ = d; }
  const ondemand::Decision& decision() const { return decision_; }

  uint64_t roams() const { return roams_; }
  uint64_t roam_failures() const { return roam_failures_; }
  uint64_t path_changes() const { return path_changes_; }

 private:
  Path path_;
  bool roaming_ = false;
  uint64_t started_ms_ = 0, deadline_ = UINT64_MAX, pongs_mark_ = 0;
  uint32_t pings_ = 0;
  uint64_t roams_ = 0, roam_failures_ = 0, path_changes_ = 0;
  bool seen_network_ = false;
  ondemand::Network network_;
  ondemand::Decision decision_;
};

// One evaluation of the on-demand rules: next() is the decision so far; a probe decision names
// the URL to probe, whose answer goes to probed() before next() is asked again. After kMaxProbes
// probes the answer is `keep` (rules * 2 at most in practice; bounded anyway).
class OnDemandRound {
 public:
  static constexpr int kMaxProbes = 16;
  OnDemandRound(const std::vector<ondemand::Rule>& rules, const ondemand::Network& net) : rules_(rules), net_(net) {}
  ondemand::Decision next() const;
  void probed(const std::string& url, bool reachable);

 private:
  const std::vector<ondemand::Rule>& rules_;
  const ondemand::Network& net_;
  ondemand::ProbeResults probes_;
  int probes_run_ = 0;
};

}  // namespace ptun::client
