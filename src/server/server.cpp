#include "server/server.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <csignal>
#include <ctime>

#include "common/sd_notify.hpp"
#include "control/control_server.hpp"
#include "metrics/exporter.hpp"
#include "netlink/rtnl.hpp"
#include "packet/checksum.hpp"
#include "tls/credentials.hpp"
#include "tls/dtls_config.hpp"

namespace ptun::server {

namespace {
// How long a session replaced by a rekey is still accepted if the client does not close it
// itself (it does after its own, shorter grace: ClientParams::rekey.grace_ms).
constexpr uint64_t kRekeyGraceMs = 10000;
}  // namespace

Server::Server(core::Loop& loop, config::ServerConfig cfg)
    : loop_(loop),
      cfg_(std::move(cfg)),
      dp_(loop, *this, 1024),
      peers_(cfg_.tunnel.ipv4_pool, cfg_.tunnel.ipv6_pool),
      leases_(cfg_.state_dir + "/leases.json"),
      lease_writer_(leases_) {}

Server::~Server() { teardown(); }

Result<std::unique_ptr<Server>> Server::create(core::Loop& loop, config::ServerConfig cfg) {
  std::unique_ptr<Server> s(new Server(loop, std::move(cfg)));
  if (auto r = s->setup(); !r) {
    s->teardown();
    return r.error();
  }
  return s;
}

Result<void> Server::setup() {
  log::Level lvl;
  if (log::parse_level(cfg_.log_level.c_str(), &lvl)) log::set_level(lvl);
  started_ms_ = loop_.now_ms();
  if (auto r = setup_cluster(); !r) return r;   // [cluster]: before anything touches the host
  if (auto r = setup_backbone(); !r) return r;

  // Control socket first: a second instance stops here, before touching the host.
  control_ = nullptr;
  auto ctl = control::ControlServer::open(loop_, cfg_.control_socket, cfg_.control_group,
                                          [this](const control::Request& r) { return handle_control(r); });
  if (!ctl) return ctl.error();
  control_ = std::move(*ctl);
  if (cfg_.metrics_listen) {
    auto ex = metrics::Exporter::open(loop_, *cfg_.metrics_listen, [this] { return metrics_text(); });
    if (!ex) return ex.error();
    metrics_ = std::move(*ex);
  }

  if (::mkdir(cfg_.state_dir.c_str(), 0700) < 0 && errno != EEXIST)
    return Error::from_errno("cannot create state_dir " + cfg_.state_dir, errno);

  // Peers: static addresses, then leases kept from earlier runs.
  peers_.configure(cfg_.peers);
  for (const auto& p : cfg_.peers) {
    if (p.ipv4 || p.ipv6) {
      if (auto r = peers_.reserve_static(p.name, Lease{p.ipv4, p.ipv6}); !r) return r;
    }
  }
  list_peers_for_metrics();
  auto leases = leases_.load();
  if (!leases) return leases.error();
  peers_.set_expiry(int64_t(cfg_.tunnel.lease_expiry_days) * 86400);
  peers_.restore(*leases, ::time(nullptr));
  lease_writer_.assume_written(*leases);   // what is on disk needs no rewrite

  auto creds = tls::Credentials::load(cfg_.ca, cfg_.cert, cfg_.key);
  if (!creds) return creds.error();
  auto dtls = tls::DtlsConfig::make_server(*creds, rng_);
  if (!dtls) return dtls.error();
  creds_ = *creds;
  dtls_ = *dtls;
  auto crl = read_crl(cfg_.crl);
  if (!crl) return crl.error();
  crl_ = *crl;
  dtls_->set_crl(crl_);
  proto::ServerEndpoint::Limits limits;
  limits.max_sessions = cfg_.max_sessions;
  limits.max_half_open = cfg_.max_half_open;
  limits.max_half_open_per_source = cfg_.max_half_open_per_source;
  limits.handshake_timeout_ms = cfg_.handshake_timeout_secs * 1000;
  limits.per_source_hs_per_sec = cfg_.handshake_rate_per_source;
  endpoint_ = std::make_unique<proto::ServerEndpoint>(*dtls, *this, limits);

  timer_ = std::make_unique<core::Timer>(loop_);
  auto own4 = peers_.server_v4(), own6 = peers_.server_v6();
  dp_.set_mtu(cfg_.tunnel.mtu, own4 ? std::optional(own4->addr) : std::nullopt,
              own6 ? std::optional(own6->addr) : std::nullopt);
  if (cfg_.tunnel.forwarding == "userspace") {
    if (auto r = setup_userspace_forwarding(); !r) return r;
  } else {
    if (auto r = setup_kernel_forwarding(); !r) return r;
  }

  for (const auto& ep : cfg_.listen) {
    core::UdpOptions o;
    auto s = core::UdpSocket::bind(loop_, ep, o);
    if (!s) return Error(s.error().code, "listen " + ep.str() + ": " + s.error().message);
    int fam = ep.addr.is_v4() ? 0 : 1;
    if (socket_for_family_[fam] < 0) socket_for_family_[fam] = int(sockets_.size());
    dp_.set_socket(sockets_.size(), s->get());
    sockets_.push_back(std::move(*s));
    LOG_INFO("server: listening on %s", ep.str().c_str());
  }
  if (!cfg_.listen_tcp.empty()) {
    proto::StreamLimits sl;
    sl.max_connections = cfg_.tcp_max_connections;
    sl.max_per_source = cfg_.tcp_max_connections_per_source;
    sl.handshake_ms = cfg_.handshake_timeout_secs * 1000;
    auto tls = tls::TlsStreamConfig::make_server(creds_, rng_);
    if (!tls) return tls.error();
    streams_ = std::make_unique<StreamTransport>(loop_, sl, *tls, *this);
    for (const auto& ep : cfg_.listen_tcp) {
      // Not fatal: the UDP transport works without it (port 443 needs root or
      // CAP_NET_BIND_SERVICE; another program may hold it).
      if (auto r = streams_->listen(ep); !r) LOG_WARN("server: no TCP transport on %s: %s", ep.str().c_str(), r.error().message.c_str());
      else LOG_INFO("server: listening on tcp %s", streams_->listening().back().str().c_str());
    }
  }
  if (forwarder_)
    LOG_INFO("server: userspace forwarding, mtu %u (no TUN, no kernel NAT)", cfg_.tunnel.mtu);
  else
    LOG_INFO("server: tunnel %s mtu %u up", cfg_.tunnel.interface.c_str(), cfg_.tunnel.mtu);
  return {};
}

// forwarding = "kernel": a TUN with the server's own address in each pool, IP forwarding and
// (optionally) masquerade; all undone by teardown().
Result<void> Server::setup_kernel_forwarding() {
  tun::TunOptions topt;
  topt.name = cfg_.tunnel.interface;
  auto tun = tun::TunDevice::open(topt);
  if (!tun) return tun.error();
  tun_ = std::move(*tun);
  std::vector<Cidr> addrs;
  if (auto a = peers_.server_v4()) addrs.push_back(*a);
  if (auto a = peers_.server_v6()) addrs.push_back(*a);
  auto rtnl = netlink::Rtnl::open();
  if (!rtnl) return rtnl.error();
  if (auto r = tun_->configure(**rtnl, cfg_.tunnel.mtu, addrs); !r) return r;

  if (auto r = setup_dns_proxy(); !r) return r;
  if (auto r = host_.enable_forwarding(bool(cfg_.tunnel.ipv4_pool), bool(cfg_.tunnel.ipv6_pool)); !r) return r;
  if (cfg_.tunnel.masquerade) {
    std::vector<Cidr> pools;
    if (cfg_.tunnel.ipv4_pool) pools.push_back(*cfg_.tunnel.ipv4_pool);
    if (cfg_.tunnel.ipv6_pool) pools.push_back(*cfg_.tunnel.ipv6_pool);
    if (auto r = host_.enable_masquerade(masquerade_table(cfg_.tunnel.interface), cfg_.tunnel.interface, pools, cfg_.tunnel.masquerade_interfaces); !r)
      return r;
  }
  dev_ = tun_.get();
  dp_.set_device(dev_);
  dp_.set_tx_thread(cfg_.tunnel.tx_thread);
  return {};
}

void Server::teardown() {
  dp_.set_tx_thread(false);   // it may still write to the TUN and the sockets
  dns_proxy_.reset();   // its sockets are bound to the TUN
  host_.undo();
  dev_ = nullptr;
  dp_.set_device(nullptr);
  tun_.reset();
  host_addrs_.reset();
  forwarder_.reset();
}

void Server::stop() {
  if (stop_source_) stop_source_->cancel();
}

core::Task<int> Server::run() {
  core::CancelSource stop;
  stop_source_ = &stop;
  core::TaskScope scope(loop_);
  for (size_t i = 0; i < sockets_.size(); ++i) scope.spawn(dp_.run_socket(i, stop.token()));
  if (forwarder_) scope.spawn(forwarder_->run(stop.token()));
  if (host_addrs_) scope.spawn(run_host_addresses(stop.token()));
  scope.spawn(dp_.run_device(stop.token()));   // the TUN or the userspace forwarder
  scope.spawn(run_timers(stop.token()));
  scope.spawn(control_->run(stop.token()));
  if (metrics_) scope.spawn(metrics_->run(stop.token()));
  if (streams_) scope.spawn(streams_->run(stop.token()));
  scope.spawn(cluster_run(stop.token()));   // [cluster]: session records, revocations, etcd's health
  scope.spawn(run_backbone(stop.token()));
  notify_status("READY=1\n");   // sockets bound and the tunnel up since setup()
  co_await run_signals(stop);
  sd::notify("STOPPING=1\nSTATUS=shutting down");
  LOG_INFO("server: shutting down");
  endpoint_->close_all(proto::CloseReason::shutdown, loop_.now_ms());
  flush();
  // Once for all sessions just closed: their leases' expiry counts from now.
  (void)lease_writer_.flush(peers_.leases());   // exact last_seen; a failure is logged by the writer
  co_await cluster_join();   // the releases of the sessions just closed reach etcd
  stop.cancel();
  co_await scope.join();
  co_await cluster_leave();
  co_await leave_backbone();
  stop_source_ = nullptr;
  teardown();
  co_return 0;
}

core::Task<void> Server::run_signals(core::CancelSource& stop) {
  auto sig = co_await core::wait_stop_signal(loop_, stop.token(), [this] {
    LOG_INFO("server: SIGHUP, reloading %s", cfg_.path.c_str());
    if (auto r = reload(); !r) LOG_WARN("server: %s", r.error().message.c_str());
  });
  if (sig) LOG_INFO("server: %s, closing sessions and restoring the host", core::signal_name(*sig));  // else `ptun stop`
}

core::Task<void> Server::run_timers(core::CancelToken stop) {
  while (!stop.cancelled()) {
    scheduled_deadline_ = next_deadline();
    uint64_t deadline = scheduled_deadline_ == UINT64_MAX ? loop_.now_ms() + 60000 : scheduled_deadline_;
    auto r = co_await timer_->wait_until(deadline, stop);
    if (!r && r.error().code == Errc::cancelled) break;
    now_ = loop_.now_ms();
    if (now_ >= endpoint_->next_deadline()) endpoint_->on_timer(now_);
    rekey_timers(now_);
    flush();
  }
}

uint64_t Server::next_deadline() const { return std::min(endpoint_->next_deadline(), rekey_grace_.next_deadline()); }

void Server::rekey_timers(uint64_t now) {
  if (now < rekey_grace_.next_deadline()) return;
  for (uint64_t old : rekey_grace_.take_due(now)) endpoint_->close_session(old, proto::CloseReason::rekeyed, now);
}

void Server::poke_timer() {
  if (next_deadline() < scheduled_deadline_) timer_->poke();
}

// ---- session callbacks -------------------------------------------------------------------

Result<proto::NetworkSettings> Server::authorize(uint64_t session_id, const std::string& peer_cn,
                                                 const proto::ClientHello& hello,
                                                 proto::CloseReason* refuse_reason) {
  // Counted before any refusal: failed attempts of a name show in its metrics too.
  auto hs = endpoint_->session(session_id);
  ledger_.handshake(peer_cn, ::time(nullptr), hs ? hs->peer_not_after : 0);
  const config::PeerConfig* pc = nullptr;
  if (!cfg_.peers.empty()) {
    pc = peers_.configured(peer_cn);
    if (!pc) {
      *refuse_reason = proto::CloseReason::auth_refused;
      LOG_WARN("server: refused certificate '%s': not a configured peer", peer_cn.c_str());
      return Error(Errc::auth, "certificate name '" + peer_cn + "' is not a configured peer");
    }
    if (pc->fingerprint) {
      auto info = endpoint_->session(session_id);
      const std::optional<Fingerprint> got = info ? info->peer_fingerprint : std::nullopt;
      if (got != pc->fingerprint) {
        ++counters_.fingerprint_refused;
        *refuse_reason = proto::CloseReason::auth_refused;
        const std::string shown = got ? fingerprint_str(*got) : "none";
        LOG_WARN("server: refused peer '%s': its certificate %s is not the pinned %s", peer_cn.c_str(),
                 shown.c_str(), fingerprint_str(*pc->fingerprint).c_str());
        return Error(Errc::auth, "certificate of '" + peer_cn + "' is not the one pinned for it (fingerprint " + shown + ")");
      }
    }
  }
  if (auto r = cluster_admits(session_id, peer_cn, hello, refuse_reason); !r) return r.error();
  if (cluster_leases_for(pc)) {   // addresses from etcd: answered by complete_authorize()
    cluster_acquire(session_id, peer_cn, hello, pc);
    return Error(Errc::would_block, "waiting for the cluster's lease");
  }
  auto lease = peers_.lease(peer_cn, ::time(nullptr));
  if (!lease) {
    *refuse_reason = proto::CloseReason::no_address;
    return lease.error();
  }
  lease_writer_.submit(peers_.leases());   // off the loop thread, and only if a lease changed
  return admit(session_id, peer_cn, hello, pc, *lease);
}

proto::NetworkSettings Server::admit(uint64_t session_id, const std::string& peer_cn, const proto::ClientHello& hello,
                                     const config::PeerConfig* pc, const Lease& lease) {
  // A rekey of the peer's live session takes over its addresses and routes at once; the old session
  // still counts as this one until the client closes it or the grace ends (proto/rekey.hpp).
  const uint64_t live = peers_.session_of(peer_cn).value_or(0);
  const auto verdict = proto::judge_rekey(hello.rekey_of, live, session_id);
  if (verdict == proto::RekeyVerdict::adopt) {
    ++counters_.rekeys;
    rekey_grace_.adopt(live, session_id, now_ + kRekeyGraceMs);
    LOG_DEBUG("server: peer %s rekeyed: session %016llx replaces %016llx", peer_cn.c_str(),
              (unsigned long long)session_id, (unsigned long long)live);
  } else if (verdict == proto::RekeyVerdict::stale) {
    ++counters_.rekey_stale;
  }
  // One session per peer: a new session replaces the old one (the device reconnected).
  if (auto old = peers_.session_of(peer_cn); old && *old != session_id && verdict != proto::RekeyVerdict::adopt) {
    LOG_INFO("server: peer %s reconnected, closing its old session", peer_cn.c_str());
    endpoint_->close_session(*old, proto::CloseReason::replaced, now_);
  }
  Peer p;
  p.name = peer_cn;
  p.lease = lease;
  if (pc) p.routes_behind = pc->routes_behind;
  p.started_ms = loop_.now_ms();
  peers_.add(session_id, std::move(p));

  proto::NetworkSettings s;
  if (lease.ipv4) s.ipv4 = Cidr{*lease.ipv4, cfg_.tunnel.ipv4_pool->prefix};
  if (lease.ipv6) s.ipv6 = Cidr{*lease.ipv6, cfg_.tunnel.ipv6_pool->prefix};
  if (auto a = peers_.server_v4()) s.server_ipv4 = a->addr;
  if (auto a = peers_.server_v6()) s.server_ipv6 = a->addr;
  s.mtu = uint16_t(cfg_.tunnel.mtu);
  s.included_routes = cfg_.push.included_routes;
  s.excluded_routes = cfg_.push.excluded_routes;
  s.dns_servers = cfg_.push.dns_servers;
  s.search_domains = cfg_.push.search_domains;
  s.match_domains = cfg_.push.match_domains;
  s.keepalive_secs = cfg_.push.keepalive_secs;
  s.dead_peer_secs = cfg_.push.dead_peer_secs;
  s.protect_routes = cfg_.push.protect_routes;
  return s;
}

void Server::on_established(uint64_t session_id, const std::string& peer_cn, const Endpoint& from) {
  const Peer* p = peers_.find(session_id);
  if (!p) return;
  peers_.set_endpoint(session_id, from);
  if (streams_) streams_->established(from);   // over TCP: its handshake deadline is met
  cluster_session_up(session_id, peer_cn);   // [cluster]: its older session elsewhere is closed
  ledger_.established(peer_cn);
  if (auto info = endpoint_->session(session_id))
    handshake_seconds_.observe(double(info->stats.established_at_ms - info->created_ms) / 1000.0);
  notify_status();
  LOG_INFO("server: session %016llx peer %s from %s: %s%s%s", (unsigned long long)session_id,
           peer_cn.c_str(), from.str().c_str(), p->lease.ipv4 ? p->lease.ipv4->str().c_str() : "",
           p->lease.ipv4 && p->lease.ipv6 ? " " : "", p->lease.ipv6 ? p->lease.ipv6->str().c_str() : "");
}

void Server::on_roamed(uint64_t session_id, const Endpoint& from) {
  const Peer* p = peers_.find(session_id);
  if (!p) return;
  bool tcp = streams_ && streams_->owns(from);
  LOG_INFO("server: peer %s moved from %s to %s%s", p->name.c_str(), p->endpoint.str().c_str(), tcp ? "tcp " : "",
           from.str().c_str());
  peers_.set_endpoint(session_id, from);
  if (tcp) streams_->established(from);
}

void Server::on_closed(uint64_t session_id, proto::CloseReason reason, const proto::SessionStats& final_stats) {
  // A rekeyed session that ends takes the sessions it replaced along (they carry its traffic).
  if (rekey_grace_.size())
    for (uint64_t orphan : rekey_grace_.forget(session_id)) endpoint_->close_session(orphan, proto::CloseReason::kicked, now_);
  // The lease's expiry counts from now; saved with the next lease change or at exit.
  auto gone = peers_.remove(session_id, ::time(nullptr));
  if (!gone) return;
  cluster_session_down(session_id, gone->name);
  if (!peers_.session_of(gone->name)) cluster_release(gone->name);   // its last session here
  ledger_.ended(gone->name, final_stats);
  notify_status();
  LOG_INFO("server: session %016llx peer %s closed: %s", (unsigned long long)session_id, gone->name.c_str(),
           proto::to_string(reason));
}

}  // namespace ptun::server
