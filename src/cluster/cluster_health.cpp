#include "cluster/cluster_health.hpp"

namespace ptun::cluster {

const char* to_string(HealthState s) {
  switch (s) {
    case HealthState::starting: return "starting";
    case HealthState::ok: return "ok";
    case HealthState::degraded: return "degraded";
    case HealthState::unreachable: return "unreachable";
  }
  return "?";
}

bool ClusterHealth::enter(HealthState s, uint64_t now_ms) {
  if (s == state_) return false;
  if (s == HealthState::unreachable) ++outages_;
  state_ = s;
  since_ms_ = now_ms;
  return true;
}

bool ClusterHealth::answered(uint64_t now_ms, size_t members_down) {
  members_down_ = members_down;
  return enter(members_down ? HealthState::degraded : HealthState::ok, now_ms);
}

bool ClusterHealth::failed(uint64_t now_ms, std::string error) {
  last_error_ = std::move(error);
  last_error_ms_ = now_ms;
  // Before the first answer it stays "starting": the server has never worked with this etcd.
  if (state_ == HealthState::starting) return false;
  return enter(HealthState::unreachable, now_ms);
}

}  // namespace ptun::cluster
