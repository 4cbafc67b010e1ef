#include "cluster/backbone_sync.hpp"

#include "common/log.hpp"

namespace ptun::cluster {

BackboneSync::BackboneSync(core::Loop& loop, EtcdClient& etcd, BackboneOptions opts, RouteTable& table, IsOwnFn is_own)
    : loop_(loop), etcd_(etcd), opts_(std::move(opts)), table_(table), is_own_(std::move(is_own)) {}

core::Task<Result<void>> BackboneSync::publish(int64_t now_ms) {
  if (lease_ != 0 && now_ms < keepalive_at_ms_) co_return Result<void>{};
  if (lease_ != 0) {
    auto k = co_await etcd_.lease_keepalive(lease_);
    if (!k) co_return k.error();   // try again next round; the lease has ttl_s to live
    if (k->ttl > 0) {
      keepalive_at_ms_ = now_ms + k->ttl * 1000 / 3;
      co_return Result<void>{};
    }
    // Expired (etcd was out of reach longer than the TTL): the record is gone; publish anew.
    LOG_WARN("cluster: backbone record's etcd lease expired; publishing it again");
    lease_ = 0;
  }
  auto g = co_await etcd_.lease_grant(opts_.ttl_s);
  if (!g) co_return g.error();
  TxnRequest t;
  TxnOp put;
  put.put = PutRequest{server_key(opts_.prefix, opts_.self), encode_server_record(opts_.record), g->id};
  t.success.push_back(std::move(put));
  auto r = co_await etcd_.txn(std::move(t));
  if (!r) {
    (void)co_await etcd_.lease_revoke(g->id);   // best effort; it expires anyway
    co_return r.error();
  }
  lease_ = g->id;
  keepalive_at_ms_ = now_ms + g->ttl * 1000 / 3;
  ++stats_.published;
  co_return Result<void>{};
}

core::Task<Result<void>> BackboneSync::round(int64_t now_ms) {
  auto pub = co_await publish(now_ms);
  TxnRequest read;
  for (const std::string& p : {opts_.prefix + "/peers/", servers_prefix(opts_.prefix)}) {
    TxnOp op;
    op.range = RangeRequest{p, prefix_end(p), false, 0};
    read.success.push_back(std::move(op));
  }
  auto got = co_await etcd_.txn(std::move(read));
  if (!got || got->ranges.size() != 2) {
    ++stats_.read_failures;
    last_error_ = got ? "etcd: the read's answer lacks its two ranges" : got.error().message;
    co_return Error(got ? Errc::protocol : got.error().code, last_error_);
  }
  std::map<std::string, PeerRecord> peers;
  std::map<std::string, ServerRecord> servers;
  collect_records(opts_.prefix, got->ranges[0].kvs, &peers, &servers, &stats_.bad_records);
  collect_records(opts_.prefix, got->ranges[1].kvs, &peers, &servers, &stats_.bad_records);
  ++stats_.rounds;
  last_error_ = pub ? "" : "publishing the server record: " + pub.error().message;
  apply(plan_backbone_routes(opts_.self, peers, servers, is_own_));
  co_return Result<void>{};
}

void BackboneSync::apply(const std::set<BackboneRoute>& wanted) {
  auto c = diff_routes(installed_, wanted);
  for (const auto& r : c.remove) {
    auto done = table_.remove(r);
    if (!done && done.error().code != Errc::not_found) {
      ++stats_.route_failures;
      LOG_WARN("cluster: backbone route %s via %s: remove: %s", r.dst.str().c_str(), r.via.str().c_str(),
               done.error().message.c_str());
      continue;   // still there: tried again next round
    }
    installed_.erase(r);
    ++stats_.removed;
    LOG_INFO("cluster: backbone route %s via %s removed", r.dst.str().c_str(), r.via.str().c_str());
  }
  for (const auto& r : c.add) {
    auto done = table_.add(r);
    if (!done && done.error().code != Errc::exists) {
      ++stats_.route_failures;
      LOG_WARN("cluster: backbone route %s via %s: add: %s", r.dst.str().c_str(), r.via.str().c_str(),
               done.error().message.c_str());
      continue;
    }
    installed_.insert(r);
    ++stats_.added;
    LOG_INFO("cluster: backbone route %s via %s", r.dst.str().c_str(), r.via.str().c_str());
  }
}

core::Task<void> BackboneSync::run(core::CancelToken stop) {
  core::Timer tick(loop_);
  bool failing = false;
  while (!stop.cancelled()) {
    auto r = co_await round(int64_t(loop_.now_ms()));
    if (!r && !failing) LOG_WARN("cluster: backbone routes not updated: %s (keeping the %zu installed)",
                                 r.error().message.c_str(), installed_.size());
    if (r && failing) LOG_INFO("cluster: backbone routes updated again");
    failing = !r;
    if (!co_await tick.wait_for(opts_.interval_ms, stop)) break;
  }
  co_await tick.close();
}

core::Task<void> BackboneSync::leave() {
  if (lease_ != 0) {
    if (auto r = co_await etcd_.lease_revoke(lease_); !r)
      LOG_WARN("cluster: revoking the backbone record's lease: %s (it expires by itself)", r.error().message.c_str());
    lease_ = 0;
  }
  apply({});
}

}  // namespace ptun::cluster
