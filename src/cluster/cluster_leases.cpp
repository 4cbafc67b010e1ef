#include "cluster/cluster_leases.hpp"

namespace ptun::cluster {

ClusterLeases::ClusterLeases(EtcdClient& etcd, AllocConfig cfg, int64_t grace_s)
    : etcd_(etcd), cfg_(std::move(cfg)), grace_s_(grace_s < 1 ? 1 : grace_s) {}

core::Task<Result<Addresses>> ClusterLeases::acquire(std::string cn, int64_t now_s) {
  for (int attempt = 0; attempt < AllocPlan::kMaxAttempts; ++attempt) {
    ++stats_.round_trips;
    auto rd = co_await etcd_.txn(AllocPlan::read(cfg_, cn));
    if (!rd) {
      ++stats_.failed;
      co_return rd.error();
    }
    auto claim = AllocPlan::decide(cfg_, cn, *rd, now_s);
    if (!claim) {
      ++stats_.failed;
      co_return claim.error();
    }
    ++stats_.round_trips;
    auto cm = co_await etcd_.txn(claim->commit);
    if (!cm) {
      ++stats_.failed;
      co_return cm.error();
    }
    if (cm->succeeded) {
      ++stats_.acquired;
      held_[cn] = claim->record;
      co_return claim->addrs;
    }
    ++stats_.races;  // something read has changed: read again
  }
  ++stats_.failed;
  co_return Error(Errc::exists, "cluster: lost " + std::to_string(AllocPlan::kMaxAttempts) +
                                    " allocation races in a row for '" + cn + "'");
}

core::Task<Result<void>> ClusterLeases::release(std::string cn, int64_t now_s) {
  auto it = held_.find(cn);
  if (it == held_.end()) co_return Error(Errc::not_found, "cluster: '" + cn + "' is not held here");
  const PeerRecord held = it->second;
  held_.erase(it);
  ++stats_.round_trips;
  auto lease = co_await etcd_.lease_grant(grace_s_);
  if (!lease) co_return lease.error();
  ++stats_.round_trips;
  auto r = co_await etcd_.txn(AllocPlan::release(cfg_, cn, held, lease->id, now_s));
  if (!r) co_return r.error();
  if (!r->succeeded) {
    ++stats_.release_lost;
    ++stats_.round_trips;
    (void)co_await etcd_.lease_revoke(lease->id);  // unused; would expire by itself anyway
    co_return ok();
  }
  ++stats_.released;
  co_return ok();
}

}  // namespace ptun::cluster
