// [cluster] (issue 18, docs/cluster.md): a peer's addresses come from etcd's shared leases
// (cluster::ClusterLeases), so that it gets the same ones on every server and no two servers
// give one address to two peers. authorize() defers its answer (Errc::would_block); the acquire
// runs as a task here and answers through ServerEndpoint::complete_authorize(). A peer's last
// session ending here releases its lease for the grace period.
#include "server/server.hpp"

namespace ptun::server {

#ifndef PTUN_CLUSTER

Result<void> Server::setup_cluster() {
  // The config parser refuses [cluster] in these builds already; this keeps it that way.
  if (cfg_.cluster) return Error(Errc::unsupported, "[cluster]: this ptun was built without cluster support");
  return {};
}
bool Server::cluster_leases_for(const config::PeerConfig*) const { return false; }
void Server::cluster_acquire(uint64_t, const std::string&, const proto::ClientHello&, const config::PeerConfig*) {}
void Server::cluster_release(const std::string&) {}
core::Task<void> Server::cluster_join() { co_return; }

#else

Result<void> Server::setup_cluster() {
  if (!cfg_.cluster) return {};
  const auto& c = *cfg_.cluster;
  cluster::EtcdOptions o;
  o.endpoints = c.endpoints;
  o.tls = cluster::TlsFiles{c.ca, c.cert, c.key};
  o.timeout_ms = c.timeout_ms;
  cluster::AllocConfig a;
  a.prefix = c.prefix;
  a.server = c.name;
  a.v4_pool = cfg_.tunnel.ipv4_pool;
  a.v6_pool = cfg_.tunnel.ipv6_pool;
  for (const auto& p : cfg_.peers) {   // static addresses are never handed out by the cluster
    if (p.ipv4) a.reserved.insert(*p.ipv4);
    if (p.ipv6) a.reserved.insert(*p.ipv6);
  }
  etcd_ = std::make_unique<cluster::EtcdClient>(loop_, std::move(o));
  cluster_ = std::make_unique<cluster::ClusterLeases>(*etcd_, std::move(a), int64_t(c.grace_secs));
  cluster_tasks_ = std::make_unique<core::TaskScope>(loop_);
  LOG_INFO("server: cluster '%s': addresses from etcd (%zu endpoints, prefix %s)", c.name.c_str(),
           c.endpoints.size(), c.prefix.c_str());
  return {};
}

bool Server::cluster_leases_for(const config::PeerConfig* pc) const {
  if (!cluster_) return false;
  // A peer with a static address in every pool needs nothing from etcd.
  const bool v4 = !cfg_.tunnel.ipv4_pool || (pc && pc->ipv4);
  const bool v6 = !cfg_.tunnel.ipv6_pool || (pc && pc->ipv6);
  return !(v4 && v6);
}

void Server::cluster_acquire(uint64_t session_id, const std::string& peer_cn, const proto::ClientHello& hello,
                             const config::PeerConfig*) {
  cluster_tasks_->spawn(run_cluster_acquire(session_id, peer_cn, hello, nullptr));
}

core::Task<void> Server::run_cluster_acquire(uint64_t session_id, std::string peer_cn, proto::ClientHello hello,
                                             const config::PeerConfig*) {
  auto got = co_await cluster_->acquire(peer_cn, int64_t(::time(nullptr)));
  now_ = loop_.now_ms();
  // The config may have been reloaded meanwhile: look the peer up again (pointers into the old
  // peer list are gone) and refuse one that was removed.
  const config::PeerConfig* pc = peers_.configured(peer_cn);
  const bool gone = !endpoint_->session(session_id);
  if (got && (gone || (!cfg_.peers.empty() && !pc))) {
    // Nobody to give them to: released again unless another session of the peer holds them.
    if (!peers_.session_of(peer_cn)) co_await cluster_->release(peer_cn, int64_t(::time(nullptr)));
    (void)endpoint_->complete_authorize(session_id, Error(Errc::auth, "peer '" + peer_cn + "' was removed"),
                                        proto::CloseReason::auth_refused, now_);
  } else if (!got) {
    // etcd unreachable, every address taken, or lost races: refused now, the client retries.
    LOG_WARN("server: cluster: no addresses for peer %s: %s", peer_cn.c_str(), got.error().message.c_str());
    (void)endpoint_->complete_authorize(session_id, Error(got.error().code, "cluster: " + got.error().message),
                                        proto::CloseReason::no_address, now_);
  } else {
    Lease lease;
    lease.ipv4 = got->ipv4;
    lease.ipv6 = got->ipv6;
    if (pc && pc->ipv4) lease.ipv4 = pc->ipv4;   // a static address wins over the shared one
    if (pc && pc->ipv6) lease.ipv6 = pc->ipv6;
    auto settings = admit(session_id, peer_cn, hello, pc, lease);
    (void)endpoint_->complete_authorize(session_id, std::move(settings), proto::CloseReason::auth_refused, now_);
  }
  flush();
  poke_timer();
}

void Server::cluster_release(const std::string& peer_cn) {
  if (!cluster_ || !cluster_leases_for(peers_.configured(peer_cn))) return;
  cluster_tasks_->spawn(run_cluster_release(peer_cn));
}

core::Task<void> Server::run_cluster_release(std::string peer_cn) {
  auto r = co_await cluster_->release(peer_cn, int64_t(::time(nullptr)));
  if (!r && r.error().code != Errc::not_found)
    LOG_WARN("server: cluster: release of peer %s: %s (etcd drops it with the record's grace, or the next "
             "acquire takes it over)", peer_cn.c_str(), r.error().message.c_str());
}

core::Task<void> Server::cluster_join() {
  if (cluster_tasks_) co_await cluster_tasks_->join();
}

#endif

}  // namespace ptun::server
