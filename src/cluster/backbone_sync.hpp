// Backbone routes kept in step with etcd (issue 18 item 3; the decisions are backbone_plan.hpp).
//
// A server on a backbone publishes its record (P/servers/<name>: its backbone addresses) under an
// etcd lease of its own, kept alive; when the server dies the lease runs out and etcd deletes the
// record, so the other servers drop their routes to it. Every `interval` the server reads the
// peer and server records (one txn, two ranges), plans the routes it wants and applies the
// difference through a RouteTable (the server's netlink edge). While etcd cannot be read the
// installed routes stay as they are: stale routes to a live server beat no routes at all.
#pragma once
#include <cstdint>
#include <set>
#include <string>

#include "cluster/backbone_plan.hpp"
#include "cluster/etcd_client.hpp"
#include "core/core.hpp"

namespace ptun::cluster {

// Where routes go (the host's routing table; a recorder in tests). Failures are counted and the
// route retried on the next round.
class RouteTable {
 public:
  virtual ~RouteTable() = default;
  virtual Result<void> add(const BackboneRoute& r) = 0;
  virtual Result<void> remove(const BackboneRoute& r) = 0;
};

struct BackboneOptions {
  std::string prefix;         // the cluster's key prefix ("/ptun")
  std::string self;           // this server's name
  ServerRecord record;        // this server's backbone addresses
  int64_t ttl_s = 10;         // the server record's etcd lease
  uint32_t interval_ms = 1000;
};

struct BackboneStats {
  uint64_t rounds = 0;         // reads of the records that succeeded
  uint64_t read_failures = 0;  // reads that did not (etcd unreachable, bad answer)
  uint64_t bad_records = 0;    // records that did not parse (skipped)
  uint64_t added = 0, removed = 0;
  uint64_t route_failures = 0; // the host refused an add or a remove
  uint64_t published = 0;      // times the server record was (re)written under a new lease
};

class BackboneSync {
 public:
  BackboneSync(core::Loop& loop, EtcdClient& etcd, BackboneOptions opts, RouteTable& table, IsOwnFn is_own);

  // Until stopped: publish, keep alive, read, plan, apply.
  core::Task<void> run(core::CancelToken stop);
  // One round now (run() calls it; tests call it directly): keeps the record published, then
  // reads and applies. Errors: the read failed (routes unchanged).
  core::Task<Result<void>> round(int64_t now_ms);
  // Leaving: the record's lease is revoked (the others drop their routes to us at once) and every
  // route this server installed is removed.
  core::Task<void> leave();

  const std::set<BackboneRoute>& installed() const { return installed_; }
  const BackboneStats& stats() const { return stats_; }
  const std::string& last_error() const { return last_error_; }

 private:
  core::Task<Result<void>> publish(int64_t now_ms);
  void apply(const std::set<BackboneRoute>& wanted);

  core::Loop& loop_;
  EtcdClient& etcd_;
  BackboneOptions opts_;
  RouteTable& table_;
  IsOwnFn is_own_;
  int64_t lease_ = 0;             // 0: none (grant one and put the record)
  int64_t keepalive_at_ms_ = 0;
  std::set<BackboneRoute> installed_;
  BackboneStats stats_;
  std::string last_error_;
};

}  // namespace ptun::cluster
