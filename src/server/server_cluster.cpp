// [cluster] (issue 18, docs/cluster.md): a peer's addresses come from etcd's shared leases
// (cluster::ClusterLeases), so that it gets the same ones on every server and no two servers
// give one address to two peers. authorize() defers its answer (Errc::would_block); the acquire
// runs as a task here and answers through ServerEndpoint::complete_authorize(). A peer's last
// session ending here releases its lease for the grace period.
//
// cluster::ClusterNode keeps one session per peer across servers (a peer's session here is closed
// when it connects to another server), applies revocations stored in etcd, and tells whether etcd
// answers: while it does not, new sessions are refused (existing ones and their rekeys go on).
#include "server/server.hpp"

#ifdef PTUN_CLUSTER
#include "cluster/curl_api.hpp"
#endif

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
Result<void> Server::cluster_admits(uint64_t, const std::string&, const proto::ClientHello&, proto::CloseReason*) {
  return {};
}
void Server::cluster_session_up(uint64_t, const std::string&) {}
void Server::cluster_session_down(uint64_t, const std::string&) {}
core::Task<void> Server::cluster_run(core::CancelToken) { co_return; }
core::Task<void> Server::cluster_leave() { co_return; }
nlohmann::json Server::cluster_json() const { return nullptr; }

#else

Result<void> Server::setup_cluster() {
  if (!cfg_.cluster) return {};
  if (auto curl = cluster::curl_api(); !curl) return curl.error();   // libcurl is loaded only now
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
  cluster::NodeOptions n;
  n.prefix = c.prefix;
  n.server = c.name;
  n.ttl_s = int64_t(c.session_ttl_secs);
  n.poll_ms = c.poll_ms;
  cluster::NodeHooks h;
  h.kick = [this](const cluster::Kick& k) { cluster_kick(k); };
  h.revoked = [this](const std::string& serial) { cluster_revoked(serial); };
  node_ = std::make_unique<cluster::ClusterNode>(loop_, *etcd_, std::move(n), std::move(h));
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
    if (!peers_.session_of(peer_cn)) (void)co_await cluster_->release(peer_cn, int64_t(::time(nullptr)));
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

namespace {
std::string hex_of(const std::string& raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string h;
  for (unsigned char ch : raw) {
    h += kHex[ch >> 4];
    h += kHex[ch & 0xf];
  }
  return h;
}
}  // namespace

Result<void> Server::cluster_admits(uint64_t session_id, const std::string& peer_cn, const proto::ClientHello& hello,
                                    proto::CloseReason* refuse_reason) {
  if (!node_) return {};
  auto info = endpoint_->session(session_id);
  if (info && !info->peer_serial.empty() && node_->revocations().revoked(hex_of(info->peer_serial))) {
    *refuse_reason = proto::CloseReason::auth_refused;
    LOG_WARN("server: refused peer '%s': certificate %s is revoked in the cluster", peer_cn.c_str(),
             hex_of(info->peer_serial).c_str());
    return Error(Errc::auth, "certificate of '" + peer_cn + "' is revoked (cluster)");
  }
  const auto& h = node_->health();
  if (h.accepts_new_sessions()) return {};
  // A rekey of the peer's live session is no new session: it goes on through an outage.
  if (hello.rekey_of != 0 && peers_.session_of(peer_cn) == hello.rekey_of) return {};
  const uint64_t now = loop_.now_ms();
  const std::string why = std::string("cluster: etcd ") + cluster::to_string(h.state()) + " for " +
                          std::to_string((now - h.since_ms()) / 1000) + " s" +
                          (h.last_error().empty() ? "" : " (" + h.last_error() + ")") + ": new sessions refused";
  uint64_t suppressed = 0;
  if (cluster_refusal_log_.allow(now, &suppressed))
    LOG_WARN("server: refused peer '%s': %s (%llu more refusals not logged)", peer_cn.c_str(), why.c_str(),
             (unsigned long long)suppressed);
  *refuse_reason = proto::CloseReason::server_full;
  return Error(Errc::io, why);
}

void Server::cluster_session_up(uint64_t session_id, const std::string& peer_cn) {
  if (node_) node_->session_up(peer_cn, session_id);
}

void Server::cluster_session_down(uint64_t session_id, const std::string& peer_cn) {
  if (node_) node_->session_down(peer_cn, session_id);
}

void Server::cluster_kick(const cluster::Kick& k) {
  if (peers_.session_of(k.cn) != k.session) return;   // already gone or replaced here
  LOG_INFO("server: peer %s connected to server '%s': closing its session %016llx here", k.cn.c_str(),
           k.server.c_str(), (unsigned long long)k.session);
  now_ = loop_.now_ms();
  endpoint_->close_session(k.session, proto::CloseReason::replaced, now_, "connected to server " + k.server);
  flush();
  poke_timer();
}

void Server::cluster_revoked(const std::string& serial) {
  std::vector<std::pair<uint64_t, std::string>> hit;
  for (const auto& [sid, p] : peers_.sessions()) {
    auto info = endpoint_->session(sid);
    if (info && !info->peer_serial.empty() && cluster::normalize_serial(hex_of(info->peer_serial)) == serial)
      hit.push_back({sid, p.name});
  }
  now_ = loop_.now_ms();
  for (const auto& [sid, name] : hit) {
    LOG_WARN("server: closing session %016llx of peer %s: certificate %s revoked in the cluster",
             (unsigned long long)sid, name.c_str(), serial.c_str());
    endpoint_->close_session(sid, proto::CloseReason::kicked, now_, "certificate revoked");
  }
  if (!hit.empty()) {
    flush();
    poke_timer();
  }
}

core::Task<void> Server::cluster_run(core::CancelToken stop) {
  if (node_) co_await node_->run(stop);
}

core::Task<void> Server::cluster_leave() {
  if (node_) co_await node_->leave();
}

nlohmann::json Server::cluster_json() const {
  if (!node_) return nullptr;
  const auto& h = node_->health();
  const uint64_t now = loop_.now_ms();
  nlohmann::json j;
  j["name"] = cfg_.cluster->name;
  j["state"] = cluster::to_string(h.state());
  j["since_s"] = (now - h.since_ms()) / 1000;
  j["accepting"] = h.accepts_new_sessions();
  if (!h.last_error().empty()) {
    j["last_error"] = h.last_error();
    j["last_error_ago_s"] = (now - h.last_error_ms()) / 1000;
  }
  j["endpoint"] = etcd_->current_endpoint();
  j["members"] = etcd_->endpoint_count();
  j["members_down"] = h.members_down();
  j["outages"] = h.outages();
  char lease[24];
  std::snprintf(lease, sizeof lease, "%llx", (unsigned long long)node_->lease());
  j["lease"] = lease;
  j["sessions_recorded"] = node_->book().live();
  j["writes_pending"] = node_->book().pending();
  j["revoked_serials"] = node_->revocations().size();
  const auto& n = node_->stats();
  j["polls"] = n.polls;
  j["poll_failures"] = n.poll_failures;
  j["kicks"] = n.kicks;
  j["leases_lost"] = n.leases_lost;
  const auto& e = etcd_->stats();
  j["etcd"] = {{"calls", e.calls}, {"attempts", e.attempts}, {"failovers", e.failovers}, {"failed", e.failed},
               {"bad_answers", e.bad_answers}};
  const auto& l = cluster_->stats();
  j["addresses"] = {{"acquired", l.acquired}, {"races", l.races}, {"failed", l.failed}, {"released", l.released},
                    {"release_lost", l.release_lost}, {"round_trips", l.round_trips}};
  return j;
}

#endif

}  // namespace ptun::server
