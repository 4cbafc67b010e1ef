// Shared address leases (alloc_plan.hpp) over an EtcdClient: acquire() at a handshake, release()
// when the session ends. Remembers what it wrote for each peer it holds, so that a release only
// touches a record no other server has taken since.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "cluster/alloc_plan.hpp"
#include "cluster/etcd_client.hpp"
#include "core/task.hpp"

namespace ptun::cluster {

struct LeaseStats {
  uint64_t acquired = 0;
  uint64_t races = 0;          // commits that failed their compare (another server, or a retry)
  uint64_t failed = 0;         // acquires that returned an error
  uint64_t released = 0;
  uint64_t release_lost = 0;   // the record had moved on (the peer is on another server now)
  uint64_t round_trips = 0;    // etcd calls made by acquire and release
};

class ClusterLeases {
 public:
  // grace_s: how long a released peer keeps its addresses (1..); etcd deletes them after.
  ClusterLeases(EtcdClient& etcd, AllocConfig cfg, int64_t grace_s);

  // The peer's addresses, the same whichever server asks; Errc::limit (a pool is exhausted),
  // Errc::io/timeout (etcd unreachable), Errc::exists (lost AllocPlan::kMaxAttempts races).
  core::Task<Result<Addresses>> acquire(std::string cn, int64_t now_s);
  // The session ended: the addresses stay the peer's for the grace period (unless it is already
  // connected to another server, whose record is left alone).
  core::Task<Result<void>> release(std::string cn, int64_t now_s);

  const LeaseStats& stats() const { return stats_; }
  const AllocConfig& config() const { return cfg_; }

 private:
  EtcdClient& etcd_;
  AllocConfig cfg_;
  int64_t grace_s_;
  std::map<std::string, PeerRecord> held_;
  LeaseStats stats_;
};

}  // namespace ptun::cluster
