// This server's part in the cluster's shared session state, on the loop (the I/O around the pure
// SessionBook, Revocations and ClusterHealth):
//
//   - an etcd lease of ttl_s seconds, kept alive every ttl_s/3; its session records live under
//     it, so a dead server's records vanish with it. A lease found expired (etcd unreachable for
//     longer than the TTL) is granted again and the records written again (SessionBook::lease_lost).
//   - every poll_ms one poll (a txn of two ranges: session records and revocations changed since
//     the last answer): kicks the sessions whose peer connected to another server since, closes
//     the sessions of newly revoked certificates (hooks), and tells whether etcd answers.
//   - session records written (put/delete) one at a time in the order of events, right after an
//     event (session_up/down wake the loop), retried after a failure.
//   - every member probed every probe_ms (degraded: one is down, the cluster serves).
//
// Why a poll and not etcd's watch: the gateway's watch is a long-lived streamed POST; the HTTP
// layer (http_client.hpp) collects whole answers. A poll with min_mod_revision is one small request
// per poll_ms, needs no stream state across member failover, and doubles as the health check that
// decides whether new sessions are accepted (docs/cluster.md).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "cluster/cluster_health.hpp"
#include "cluster/etcd_client.hpp"
#include "cluster/revocations.hpp"
#include "cluster/session_book.hpp"
#include "core/cancel.hpp"
#include "core/task.hpp"
#include "core/timer.hpp"

namespace ptun::cluster {

struct NodeOptions {
  std::string prefix;      // "/ptun"
  std::string server;      // this server's name
  int64_t ttl_s = 10;      // the session records' lease
  uint32_t poll_ms = 1000;
  uint32_t probe_ms = 5000;
};

struct NodeHooks {
  std::function<void(const Kick&)> kick;                  // close that session: the peer moved
  std::function<void(const std::string& serial)> revoked; // close the sessions of this serial
};

struct NodeStats {
  uint64_t polls = 0, poll_failures = 0;
  uint64_t writes = 0, write_failures = 0;
  uint64_t kicks = 0, revocations_seen = 0;
  uint64_t leases_granted = 0, leases_lost = 0;
};

class ClusterNode {
 public:
  ClusterNode(core::Loop& loop, EtcdClient& etcd, NodeOptions opts, NodeHooks hooks);

  // Until `stop`: lease, polls, writes, probes.
  core::Task<void> run(core::CancelToken stop);
  // Shutdown, after run() ended: the lease revoked, so every record of this server goes at once.
  core::Task<void> leave();

  void session_up(const std::string& cn, uint64_t session);
  void session_down(const std::string& cn, uint64_t session);

  const ClusterHealth& health() const { return health_; }
  const Revocations& revocations() const { return revoked_; }
  const SessionBook& book() const { return book_; }
  const NodeStats& stats() const { return stats_; }
  int64_t lease() const { return lease_; }

 private:
  core::Task<bool> keep_lease();
  core::Task<bool> poll();
  core::Task<void> sync();
  core::Task<void> run_probes(core::CancelToken stop);
  void failed(const Error& e);
  void answered(uint64_t failovers_before);

  core::Loop& loop_;
  EtcdClient& etcd_;
  NodeOptions opts_;
  NodeHooks hooks_;
  SessionBook book_;
  Revocations revoked_;
  ClusterHealth health_;
  NodeStats stats_;
  core::Timer timer_;
  int64_t lease_ = 0;
  size_t probe_down_ = 0;
};

}  // namespace ptun::cluster
