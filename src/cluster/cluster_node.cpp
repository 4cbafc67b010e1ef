#include "cluster/cluster_node.hpp"

#include <algorithm>
#include <ctime>

#include "common/log.hpp"
#include "core/task_scope.hpp"

namespace ptun::cluster {

ClusterNode::ClusterNode(core::Loop& loop, EtcdClient& etcd, NodeOptions opts, NodeHooks hooks)
    : loop_(loop), etcd_(etcd), opts_(std::move(opts)), hooks_(std::move(hooks)),
      book_(opts_.prefix, opts_.server), revoked_(opts_.prefix), timer_(loop) {
  if (opts_.ttl_s < 2) opts_.ttl_s = 2;
  if (opts_.poll_ms < 50) opts_.poll_ms = 50;
}

void ClusterNode::session_up(const std::string& cn, uint64_t session) {
  book_.up(cn, session);
  timer_.poke();
}

void ClusterNode::session_down(const std::string& cn, uint64_t session) {
  book_.down(cn, session);
  timer_.poke();
}

void ClusterNode::failed(const Error& e) {
  const bool was_up = health_.accepts_new_sessions();
  if (health_.failed(loop_.now_ms(), e.message) || (was_up && !health_.accepts_new_sessions()))
    LOG_WARN("cluster: etcd unreachable (%s): existing sessions go on, new sessions are refused until it answers",
             e.message.c_str());
}

void ClusterNode::answered(uint64_t failovers_before) {
  const HealthState before = health_.state();
  const uint64_t since = health_.since_ms();
  const size_t down = std::max(probe_down_, size_t(etcd_.stats().failovers > failovers_before ? 1 : 0));
  if (!health_.answered(loop_.now_ms(), down)) return;
  if (before == HealthState::unreachable)
    LOG_INFO("cluster: etcd answers again after %llu s: new sessions accepted",
             (unsigned long long)((loop_.now_ms() - since) / 1000));
  else if (before == HealthState::starting)
    LOG_INFO("cluster: etcd answers (%s): %zu revoked serials, new sessions accepted", etcd_.current_endpoint().c_str(),
             revoked_.size());
  else if (health_.state() == HealthState::degraded)
    LOG_WARN("cluster: %zu of %zu etcd members do not answer; the others serve", down, etcd_.endpoint_count());
  else
    LOG_INFO("cluster: every etcd member answers again");
}

core::Task<bool> ClusterNode::keep_lease() {
  if (lease_ != 0) {
    auto k = co_await etcd_.lease_keepalive(lease_);
    if (!k) {
      failed(k.error());
      co_return false;
    }
    if (k->ttl > 0) co_return true;
    // Expired while etcd did not hear from us: our records went with it.
    LOG_WARN("cluster: lease %llx of server '%s' expired: writing its %zu session records again",
             (unsigned long long)lease_, opts_.server.c_str(), book_.live());
    ++stats_.leases_lost;
    lease_ = 0;
    book_.lease_lost();
  }
  auto g = co_await etcd_.lease_grant(opts_.ttl_s);
  if (!g) {
    failed(g.error());
    co_return false;
  }
  lease_ = g->id;
  ++stats_.leases_granted;
  co_return true;
}

core::Task<bool> ClusterNode::poll() {
  ++stats_.polls;
  TxnRequest t;
  TxnOp sessions, revoked;
  // Every ~5 s a full look at the session records (a range shows no deletes: SessionBook).
  const uint64_t every = std::max<uint64_t>(1, 5000 / opts_.poll_ms);
  const bool full = stats_.polls % every == 1 || every == 1;
  sessions.range = book_.changes(full);
  revoked.range = revoked_.changes();
  t.success.push_back(std::move(sessions));
  t.success.push_back(std::move(revoked));
  const uint64_t failovers = etcd_.stats().failovers;
  auto r = co_await etcd_.txn(std::move(t));
  if (r && r->ranges.size() != 2) r = Error(Errc::protocol, "poll: the answer does not hold two ranges");
  if (!r) {
    ++stats_.poll_failures;
    failed(r.error());
    co_return false;
  }
  for (const auto& s : revoked_.observe(r->ranges[1], r->revision)) {
    ++stats_.revocations_seen;
    if (hooks_.revoked) hooks_.revoked(s);
  }
  const uint64_t lost = book_.records_lost();
  auto kicks = book_.observe(r->ranges[0], r->revision, full);
  if (book_.records_lost() > lost)
    LOG_INFO("cluster: %llu session records of server '%s' gone from etcd while their sessions live: writing them again",
             (unsigned long long)(book_.records_lost() - lost), opts_.server.c_str());
  for (const auto& k : kicks) {
    ++stats_.kicks;
    if (hooks_.kick) hooks_.kick(k);
  }
  answered(failovers);
  co_return true;
}

core::Task<void> ClusterNode::sync() {
  while (auto w = book_.next_write(lease_, int64_t(::time(nullptr)))) {
    ++stats_.writes;
    auto r = co_await etcd_.txn(w->txn);
    if (!r) {
      ++stats_.write_failures;
      book_.failed(*w);
      failed(r.error());
      co_return;
    }
    if (auto k = book_.written(*w, *r)) {
      ++stats_.kicks;
      if (hooks_.kick) hooks_.kick(*k);
    }
  }
}

core::Task<void> ClusterNode::run_probes(core::CancelToken stop) {
  while (!stop.cancelled()) {
    size_t down = 0;
    for (size_t i = 0; i < etcd_.endpoint_count() && !stop.cancelled(); ++i) {
      auto r = co_await etcd_.probe(i);
      if (!r) {
        ++down;
        LOG_DEBUG("cluster: probe: %s", r.error().message.c_str());
      }
    }
    probe_down_ = down;
    auto s = co_await core::sleep_for(loop_, opts_.probe_ms, stop);
    if (!s) break;
  }
}

core::Task<void> ClusterNode::run(core::CancelToken stop) {
  core::TaskScope probes(loop_, stop);
  if (etcd_.endpoint_count() > 1) probes.spawn(run_probes(probes.token()));
  uint64_t next_keepalive = 0, next_poll = 0;
  while (!stop.cancelled()) {
    uint64_t now = loop_.now_ms();
    bool ok = true;
    if (lease_ == 0 || now >= next_keepalive) {
      ok = co_await keep_lease();
      next_keepalive = loop_.now_ms() + (ok ? uint64_t(opts_.ttl_s) * 1000 / 3 : opts_.poll_ms);
    }
    if (ok && now >= next_poll) {
      ok = co_await poll();
      next_poll = loop_.now_ms() + opts_.poll_ms;
    }
    if (ok && lease_ != 0 && health_.accepts_new_sessions()) co_await sync();
    if (!ok) next_poll = loop_.now_ms() + opts_.poll_ms;
    auto w = co_await timer_.wait_until(std::min(next_keepalive, next_poll), stop);
    if (!w && w.error().code == Errc::cancelled) break;
  }
  probes.cancel();
  co_await probes.join();
}

core::Task<void> ClusterNode::leave() {
  if (lease_ == 0) co_return;
  auto r = co_await etcd_.lease_revoke(lease_);
  if (!r) LOG_WARN("cluster: lease of server '%s' not revoked (%s): its records expire in %lld s", opts_.server.c_str(),
                   r.error().message.c_str(), (long long)opts_.ttl_s);
  lease_ = 0;
}

}  // namespace ptun::cluster
