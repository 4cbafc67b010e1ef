// etcd v3 over its JSON gateway (etcd_wire.hpp) on the libuv loop (http_client.hpp).
//
// Every endpoint given is used: calls go to the one that answered last; a connection failure, a
// timeout or an HTTP 5xx (no leader, member stopping) moves on to the next, each endpoint tried
// at most once per round. When every endpoint failed and one of them answered HTTP 5xx or timed
// out (alive, but no leader: an election), the call goes round again every 250 ms for up to 3 s in
// all (or timeout_ms if longer). A call that timed out may still have been applied: ptun's writes are
// transactions guarded by compares, so a retry of an applied one fails its compare and the caller
// re-reads (alloc_plan.hpp), never applies twice.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cluster/etcd_wire.hpp"
#include "cluster/http_client.hpp"
#include "core/task.hpp"

namespace ptun::cluster {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // "http://10.0.0.1:2379", "https://etcd1:2379"
  TlsFiles tls;                        // CA and client certificate for https endpoints
  uint32_t timeout_ms = 2000;          // per attempt (connect + answer)
};

struct EtcdStats {
  uint64_t calls = 0;         // API calls made (each may try several endpoints)
  uint64_t attempts = 0;      // HTTP requests sent
  uint64_t failovers = 0;     // an endpoint failed and the next one was tried
  uint64_t failed = 0;        // calls that failed on every endpoint
  uint64_t bad_answers = 0;   // answers that did not parse
  uint64_t election_waits = 0;  // every endpoint failed, one with HTTP 5xx or a timeout (no leader): went round again
};

class EtcdClient {
 public:
  EtcdClient(core::Loop& loop, EtcdOptions opts);

  core::Task<Result<RangeResponse>> range(RangeRequest r);
  core::Task<Result<TxnResponse>> txn(TxnRequest t);
  core::Task<Result<LeaseGrant>> lease_grant(int64_t ttl_s);
  core::Task<Result<LeaseGrant>> lease_keepalive(int64_t id);
  core::Task<Result<void>> lease_revoke(int64_t id);
  // One member alone, no failover (POST /v3/maintenance/status): whether it answers. For the
  // health of the cluster (a member down while the others serve: ClusterHealth's degraded).
  core::Task<Result<void>> probe(size_t endpoint);
  size_t endpoint_count() const { return opts_.endpoints.size(); }
  size_t current_index() const { return current_; }

  const EtcdStats& stats() const { return stats_; }
  const std::string& current_endpoint() const { return opts_.endpoints[current_]; }

 private:
  // POSTs to `path` (e.g. "/v3/kv/txn") with failover; the answer's body on HTTP 2xx or an etcd
  // error body (4xx: the request was refused, not worth another endpoint).
  core::Task<Result<std::string>> call(const char* path, std::string body);
  template <typename T>
  Result<T> counted(Result<T> r);

  static constexpr uint64_t kElectionRetryMs = 250, kElectionBudgetMs = 3000;
  core::Loop& loop_;
  HttpClient http_;
  EtcdOptions opts_;
  size_t current_ = 0;
  EtcdStats stats_;
};

}  // namespace ptun::cluster
