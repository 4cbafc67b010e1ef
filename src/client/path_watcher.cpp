#include "client/path_watcher.hpp"

namespace ptun::client {

std::string Path::str() const {
  if (!ifindex) return "none";
  return ifname + (source ? " src " + source->str() : std::string());
}

PathWatcher::Change PathWatcher::on_path(const Path& p, bool want_up, SessionPhase phase) {
  if (p == path_) return Change::none;
  path_ = p;
  ++path_changes_;
  if (!want_up) return Change::none;
  if (!p.ifindex) {
    cancel();   // nothing to send on
    return Change::no_route;
  }
  switch (phase) {
    case SessionPhase::established: return Change::roam;
    case SessionPhase::waiting_to_reconnect: return Change::reconnect_now;
    case SessionPhase::handshaking: return Change::restart_handshake;
    case SessionPhase::idle: break;
  }
  return Change::none;
}

void PathWatcher::roam_started(uint64_t now, uint64_t pongs) {
  roaming_ = true;
  started_ms_ = now;
  pongs_mark_ = pongs;
  pings_ = 1;
  deadline_ = now + kRoamPingMs;
}

PathWatcher::RoamStep PathWatcher::on_timer(uint64_t now, uint64_t pongs, bool session_alive, bool established) {
  if (confirmed(pongs, session_alive)) {
    cancel();
    ++roams_;
    return RoamStep::confirmed;
  }
  if (!roaming_ || now < deadline_) return RoamStep::wait;
  if (!established) {
    cancel();
    return RoamStep::dropped;
  }
  if (pings_ < kRoamPings) {
    ++pings_;
    deadline_ = now + kRoamPingMs;
    return RoamStep::ping;
  }
  cancel();
  ++roam_failures_;
  return RoamStep::give_up;
}

bool PathWatcher::network_seen(ondemand::Network n, bool forced) {
  bool run = !seen_network_ || forced || !(n == network_);
  seen_network_ = true;
  network_ = std::move(n);
  return run;
}

ondemand::Decision OnDemandRound::next() const {
  ondemand::Decision d = ondemand::evaluate(rules_, net_, probes_);
  if (d.kind == ondemand::Decision::probe && probes_run_ >= kMaxProbes) return {ondemand::Decision::keep, -1, {}};
  return d;
}

void OnDemandRound::probed(const std::string& url, bool reachable) {
  ++probes_run_;
  probes_[url] = reachable;
}

}  // namespace ptun::client
