// Shared address leases (alloc_plan.hpp) over an EtcdClient: acquire() at a handshake, release()
// when the session ends. Remembers what it wrote for each peer it holds, so that a release only
// touches a record no other server has taken since.
#pragma once
#include <cstdint>
#include <map>
#include <set>
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
  // The peer's last session on this server ended (not a session replaced by a newer one of the
  // same peer here: that one holds the record now): the addresses stay the peer's for the grace
  // period, unless another server has taken the peer since (its record is left alone).
  // Errc::not_found if this server holds no record for `cn`. Which record is released is decided
  // when release() is called, not when the task runs.
  core::Task<Result<void>> release(std::string cn, int64_t now_s);

  const LeaseStats& stats() const { return stats_; }
  const AllocConfig& config() const { return cfg_; }

 private:
  static core::Task<Result<void>> not_held(std::string cn);
  core::Task<Result<void>> release_record(std::string cn, PeerRecord held, int64_t now_s);

  EtcdClient& etcd_;
  AllocConfig cfg_;
  int64_t grace_s_;
  std::map<std::string, PeerRecord> held_;
  std::set<IpAddr> in_flight_;   // addresses of commits on their way to etcd
  uint64_t gen_;                 // PeerRecord::gen of the last acquire (starts at the clock in us)
  LeaseStats stats_;
};

}  // namespace ptun::cluster
