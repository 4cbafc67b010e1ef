// How this server sees etcd, sans-I/O (times are inputs): the `cluster` block of `ptun status` and
// whether new sessions are accepted.
//
//   starting     no answer yet since start: new sessions refused (revocations not read yet)
//   ok           the last poll worked and every member answered its last probe
//   degraded     the last poll worked, some member did not answer (a failover, or its probe
//                failed): sessions work as with ok
//   unreachable  the last poll failed on every endpoint: existing sessions go on, new ones are
//                refused until a poll works again
#pragma once
#include <cstdint>
#include <string>

namespace ptun::cluster {

enum class HealthState { starting, ok, degraded, unreachable };
const char* to_string(HealthState s);

class ClusterHealth {
 public:
  // A poll (or keepalive) answered; `members_down`: endpoints that failed their last probe or
  // were failed over from during it. True when the state changed.
  bool answered(uint64_t now_ms, size_t members_down);
  // A call failed on every endpoint. True when the state changed.
  bool failed(uint64_t now_ms, std::string error);

  HealthState state() const { return state_; }
  bool accepts_new_sessions() const { return state_ == HealthState::ok || state_ == HealthState::degraded; }
  uint64_t since_ms() const { return since_ms_; }     // when the state was entered
  const std::string& last_error() const { return last_error_; }
  uint64_t last_error_ms() const { return last_error_ms_; }
  size_t members_down() const { return members_down_; }
  uint64_t outages() const { return outages_; }     // times it became unreachable

 private:
  bool enter(HealthState s, uint64_t now_ms);
  HealthState state_ = HealthState::starting;
  uint64_t since_ms_ = 0, last_error_ms_ = 0, outages_ = 0;
  std::string last_error_;
  size_t members_down_ = 0;
};

}  // namespace ptun::cluster
