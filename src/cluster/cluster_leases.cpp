#include "cluster/cluster_leases.hpp"

#include <chrono>
#include <vector>

namespace ptun::cluster {

ClusterLeases::ClusterLeases(EtcdClient& etcd, AllocConfig cfg, int64_t grace_s)
    : etcd_(etcd), cfg_(std::move(cfg)), grace_s_(grace_s < 1 ? 1 : grace_s),
      gen_(uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count())) {}

core::Task<Result<Addresses>> ClusterLeases::acquire(std::string cn, int64_t now_s) {
  for (int attempt = 0; attempt < AllocPlan::kMaxAttempts; ++attempt) {
    ++stats_.round_trips;
    TxnRequest read = AllocPlan::read(cfg_, cn);
    auto rd = co_await etcd_.txn(std::move(read));
    if (!rd) {
      ++stats_.failed;
      co_return rd.error();
    }
    auto claim = AllocPlan::decide(cfg_, cn, *rd, now_s, in_flight_, ++gen_);
    if (!claim) {
      ++stats_.failed;
      co_return claim.error();
    }
    // This server's own concurrent acquires never race each other for one address.
    std::vector<IpAddr> mine;
    for (const auto& a : {claim->addrs.ipv4, claim->addrs.ipv6})
      if (a && in_flight_.insert(*a).second) mine.push_back(*a);
    ++stats_.round_trips;
    auto cm = co_await etcd_.txn(claim->commit);
    for (const auto& a : mine) in_flight_.erase(a);
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
  // Taken now, not when the task first runs: an acquire committing in between holds a newer one.
  auto it = held_.find(cn);
  if (it == held_.end()) return not_held(std::move(cn));
  PeerRecord held = it->second;
  held_.erase(it);
  return release_record(std::move(cn), std::move(held), now_s);
}

core::Task<Result<void>> ClusterLeases::not_held(std::string cn) {
  co_return Error(Errc::not_found, "cluster: '" + cn + "' is not held here");
}

core::Task<Result<void>> ClusterLeases::release_record(std::string cn, PeerRecord held, int64_t now_s) {
  ++stats_.round_trips;
  auto lease = co_await etcd_.lease_grant(grace_s_);
  if (!lease) co_return lease.error();
  ++stats_.round_trips;
  TxnRequest release = AllocPlan::release(cfg_, cn, held, lease->id, now_s);
  auto r = co_await etcd_.txn(std::move(release));
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
