// The server's answers on its control socket: status, sessions, kick, reload, stop.
#include <set>

#include "common/sd_notify.hpp"
#include "server/server.hpp"

namespace ptun::server {

nlohmann::json Server::status_json() {
  nlohmann::json j;
  j["role"] = "server";
  j["state"] = "running";
  j["uptime_s"] = (loop_.now_ms() - started_ms_) / 1000;
  j["forwarding"] = cfg_.tunnel.forwarding;
  if (forwarder_) j["userspace"] = forwarder_json();
  if (dns_proxy_) j["dns_proxy"] = dns_proxy_json();
  else j["interface"] = cfg_.tunnel.interface;
  j["mtu"] = cfg_.tunnel.mtu;
  nlohmann::json listen = nlohmann::json::array();
  for (const auto& e : cfg_.listen) listen.push_back(e.str());
  j["listen"] = listen;
  if (streams_) j["tcp"] = streams_->to_json();   // the TCP transport: listeners, connections, drops
  if (auto c = cluster_json(); !c.is_null()) j["cluster"] = std::move(c);   // [cluster]: etcd's state
  if (auto bb = backbone_json(); !bb.is_null()) j["backbone"] = bb;   // [cluster] backbone routes
  if (auto a = peers_.server_v4()) j["ipv4"] = a->str();
  if (auto a = peers_.server_v6()) j["ipv6"] = a->str();
  j["sessions"] = peers_.size();
  j["peers_configured"] = cfg_.peers.empty() ? std::string("any certificate of the CA")
                                             : std::to_string(cfg_.peers.size());
  j["counters"] = datapath::to_json(dp_.counters());
  j["counters"]["drop_spoofed"] = counters_.drop_spoofed;
  j["counters"]["drop_link_local"] = counters_.drop_link_local;
  j["counters"]["drop_no_session"] = counters_.drop_no_session;
  j["counters"]["drop_client_to_client"] = counters_.drop_client_to_client;
  j["counters"]["fingerprint_refused"] = counters_.fingerprint_refused;
  j["counters"]["fingerprint_closed"] = counters_.fingerprint_closed;
  j["rekeys"] = counters_.rekeys;
  j["rekey_stale"] = counters_.rekey_stale;
  j["rekeys_in_grace"] = rekey_grace_.size();
  const auto& c = endpoint_->counters();
  j["half_open"] = endpoint_->half_open_count();
  j["ingress"] = {{"datagrams_in", c.datagrams_in},       {"bad_header", c.bad_header},
                  {"unknown_version", c.unknown_version}, {"unknown_kind", c.unknown_kind},
                  {"unknown_session", c.unknown_session}, {"not_client_hello", c.not_client_hello},
                  {"malformed_hello", c.malformed_hello}, {"cookie_sent", c.cookie_sent},
                  {"session_limit", c.session_limit},     {"half_open_limit", c.half_open_limit},
                  {"half_open_source_limit", c.half_open_source_limit}, {"half_open_evicted", c.half_open_evicted},
                  {"rate_limited", c.rate_limited},       {"session_collision", c.session_collision},
                  {"roam_unauthenticated", c.roam_unauthenticated}, {"replay_or_auth", c.replay_or_auth},
                  {"handshake_failed", c.handshake_failed}, {"handshake_timeout", c.handshake_timeout},
                  {"sessions_created", c.sessions_created}, {"sessions_established", c.sessions_established},
                  {"refused", c.refused},                 {"cookie_reply_dropped", c.cookie_reply_dropped},
                  {"unknown_session_hints", c.unknown_session_hints}, {"roam_refused", c.roam_refused},
                  {"roam_challenges", c.roam_challenges}, {"roam_budget_exceeded", c.roam_budget_exceeded}};
  return j;
}

nlohmann::json Server::sessions_json() {
  nlohmann::json arr = nlohmann::json::array();
  uint64_t now = loop_.now_ms();
  for (const auto& [sid, p] : peers_.sessions()) {
    char id[17];
    std::snprintf(id, sizeof id, "%016llx", (unsigned long long)sid);
    nlohmann::json s;
    s["id"] = id;
    s["peer"] = p.name;
    s["endpoint"] = p.endpoint.str();
    if (p.lease.ipv4) s["ipv4"] = p.lease.ipv4->str();
    if (p.lease.ipv6) s["ipv6"] = p.lease.ipv6->str();
    nlohmann::json behind = nlohmann::json::array();
    for (const auto& c : p.routes_behind) behind.push_back(c.str());
    s["routes_behind"] = behind;
    s["uptime_s"] = (now - p.started_ms) / 1000;
    if (auto info = endpoint_->session(sid)) {
      const proto::SessionStats* st = &info->stats;
      s["cipher"] = info->ciphersuite;
      s["bytes_in"] = st->bytes_in;
      s["bytes_out"] = st->bytes_out;
      s["packets_in"] = st->packets_in;
      s["packets_out"] = st->packets_out;
      s["rtt_us"] = st->rtt_us_smoothed;
      s["last_rx_ago_ms"] = st->last_rx_ms ? now - st->last_rx_ms : 0;
    }
    arr.push_back(s);
  }
  return arr;
}

Result<nlohmann::json> Server::handle_control(const control::Request& req) {
  if (req.cmd == "status") return status_json();
  if (req.cmd == "sessions") return sessions_json();
  if (req.cmd == "kick") {
    if (!req.args.contains("peer") || !req.args["peer"].is_string())
      return Error(Errc::invalid_argument, "kick needs a string \"peer\"");
    auto name = req.args["peer"].get<std::string>();
    auto sid = peers_.session_of(name);
    if (!sid) return Error(Errc::not_found, "no session for peer '" + name + "'");
    endpoint_->close_session(*sid, proto::CloseReason::kicked, loop_.now_ms());
    flush();
    return nlohmann::json{{"kicked", name}};
  }
  if (req.cmd == "reload") return reload();
  if (req.cmd == "message") {
    // Provider messages (Apple: sendProviderMessage) answered by the server: echo, leases.
    if (!req.args.contains("message") || !req.args["message"].is_string())
      return Error(Errc::invalid_argument, "message needs a string \"message\" (echo|leases)");
    const std::string name = req.args["message"].get<std::string>();
    if (name == "echo") return nlohmann::json{{"echo", req.args.contains("data") ? req.args["data"] : nlohmann::json()}};
    if (name == "leases") {
      nlohmann::json j = nlohmann::json::object();
      for (const auto& [peer, l] : peers_.leases())
        j[peer] = {{"ipv4", l.ipv4 ? l.ipv4->str() : ""}, {"ipv6", l.ipv6 ? l.ipv6->str() : ""}};
      return j;
    }
    return Error(Errc::invalid_argument, "unknown message '" + name + "' (echo|leases)");
  }
  if (req.cmd == "stop") {
    stop();
    return nlohmann::json{{"stopping", true}};
  }
  return Error(Errc::invalid_argument,
               "unknown command '" + req.cmd + "' (status, sessions, kick, reload, message, stop)");
}

// Applies [[peer]], [push] and log_level from the file; anything else needs a restart and the
// reload is refused as a whole (the running config stays). Sessions of peers that are no longer
// allowed close at once (CLOSE kicked); a peer whose static address or routes_behind changed is
// closed too, so that it reconnects with the new settings. New [push] values reach new sessions.
Result<nlohmann::json> Server::reload() {
  sd::notify(sd::reloading_message());
  auto r = apply_reload();
  notify_status("READY=1\n");
  return r;
}

void Server::notify_status(const char* extra) {
  std::string listen;
  for (const auto& ep : cfg_.listen) listen += (listen.empty() ? "" : " ") + ep.str();
  sd::notify(std::string(extra) + "STATUS=listening on " + listen + ", " + std::to_string(peers_.size()) + " sessions");
}

Result<nlohmann::json> Server::apply_reload() {
  auto fresh = config::load_server(cfg_.path);
  if (!fresh) return Error(fresh.error().code, "reload refused, running config kept: " + fresh.error().message);
  config::ServerConfig& n = *fresh;
  config::ServerConfig rest = n;
  rest.peers = cfg_.peers;
  rest.push = cfg_.push;
  rest.log_level = cfg_.log_level;
  rest.path = cfg_.path;
  rest.crl = cfg_.crl;
  rest.tunnel.dns_proxy_upstreams = cfg_.tunnel.dns_proxy_upstreams;
  rest.tunnel.dns_proxy_resolv_conf = cfg_.tunnel.dns_proxy_resolv_conf;
  if (!(rest == cfg_))
    return Error(Errc::unsupported,
                 "reload refused, running config kept: only [[peer]], [push], crl, log_level and the DNS proxy's "
                 "upstreams can change without a restart");
  // The CRL file is read again even under the same path (`ptun pki revoke` rewrites it in place).
  auto crl = read_crl(n.crl);
  if (!crl) return Error(crl.error().code, "reload refused, running config kept: " + crl.error().message);
  std::map<std::string, const config::PeerConfig*> old_by_name, new_by_name;
  for (const auto& p : cfg_.peers) old_by_name[p.name] = &p;
  for (const auto& p : n.peers) new_by_name[p.name] = &p;
  // Static addresses: a changed one for a known peer needs the old reservation gone, which the
  // pool cannot do while running.
  for (const auto& [name, np] : new_by_name) {
    auto o = old_by_name.find(name);
    if (o != old_by_name.end() && (o->second->ipv4 != np->ipv4 || o->second->ipv6 != np->ipv6))
      return Error(Errc::unsupported, "reload refused, running config kept: the static address of peer '" + name +
                                          "' changed (needs a restart)");
  }
  for (const auto& [name, np] : new_by_name) {
    if (old_by_name.count(name) || !(np->ipv4 || np->ipv6)) continue;
    if (auto r = peers_.reserve_static(name, Lease{np->ipv4, np->ipv6}); !r)
      return Error(r.error().code, "reload refused, running config kept: peer '" + name + "': " + r.error().message);
  }
  // Sessions to close: peer no longer allowed, its certificate is not the one now pinned, or its
  // routes_behind changed.
  std::vector<std::pair<uint64_t, std::string>> to_close, unpinned;
  nlohmann::json removed = nlohmann::json::array();
  for (const auto& [sid, p] : peers_.sessions()) {
    bool allowed = n.peers.empty() || new_by_name.count(p.name);
    if (!allowed) {
      to_close.push_back({sid, p.name});
      removed.push_back(p.name);
      continue;
    }
    auto np = new_by_name.find(p.name);
    std::vector<Cidr> behind = np == new_by_name.end() ? std::vector<Cidr>{} : np->second->routes_behind;
    if (np != new_by_name.end() && np->second->fingerprint) {
      auto info = endpoint_->session(sid);
      if (!info || info->peer_fingerprint != np->second->fingerprint) {
        unpinned.push_back({sid, p.name});
        continue;
      }
    }
    if (behind != p.routes_behind) to_close.push_back({sid, p.name});
  }
  bool push_changed = n.push != cfg_.push, peers_changed = n.peers != cfg_.peers;
  if (n.log_level != cfg_.log_level) {
    log::Level lvl;
    if (log::parse_level(n.log_level.c_str(), &lvl)) log::set_level(lvl);
  }
  cfg_ = std::move(n);
  crl_ = *crl;
  dtls_->set_crl(crl_);
  reload_dns_proxy();
  const size_t revoked_closed = crl_ ? close_revoked(*crl_) : 0;
  peers_.configure(cfg_.peers);
  list_peers_for_metrics();
  uint64_t now = loop_.now_ms();
  for (const auto& [sid, name] : to_close) {
    LOG_INFO("server: reload: closing session %016llx of peer %s", (unsigned long long)sid, name.c_str());
    endpoint_->close_session(sid, proto::CloseReason::kicked, now, "peer configuration changed");
  }
  for (const auto& [sid, name] : unpinned) {
    auto info = endpoint_->session(sid);
    const std::string shown = info && info->peer_fingerprint ? fingerprint_str(*info->peer_fingerprint) : "none";
    LOG_WARN("server: reload: closing session %016llx of peer %s: its certificate %s is not the pinned one",
             (unsigned long long)sid, name.c_str(), shown.c_str());
    endpoint_->close_session(sid, proto::CloseReason::kicked, now, "certificate not the pinned one");
  }
  counters_.fingerprint_closed += unpinned.size();
  for (const auto& r : removed) peers_.release(r.get<std::string>());
  if (!removed.empty()) {
    lease_writer_.submit(peers_.leases());
  }
  flush();
  const size_t closed = to_close.size() + revoked_closed + unpinned.size();
  LOG_INFO("server: config reloaded (peers %s, push %s), %zu sessions closed, crl: %s",
           peers_changed ? "changed" : "same", push_changed ? "changed" : "same", closed,
           crl_ ? (std::to_string(crl_->size()) + " revoked").c_str() : "none");
  return nlohmann::json{{"reloaded", true},
                        {"peers_changed", peers_changed},
                        {"push_changed", push_changed},
                        {"sessions_closed", closed},
                        {"revoked_sessions_closed", revoked_closed},
                        {"fingerprint_sessions_closed", unpinned.size()},
                        {"crl_entries", crl_ ? crl_->size() : 0},
                        {"removed_peers", removed}};
}

Result<std::shared_ptr<tls::Crl>> Server::read_crl(const std::string& path) {
  if (path.empty()) return std::shared_ptr<tls::Crl>();
  auto crl = tls::Crl::load(path, *creds_);
  if (!crl) return Error(crl.error().code, "crl " + path + ": " + crl.error().message);
  LOG_INFO("server: crl %s: %zu revoked certificate(s)", path.c_str(), (*crl)->size());
  return *crl;
}

size_t Server::close_revoked(const tls::Crl& crl) {
  std::vector<std::pair<uint64_t, std::string>> revoked;
  for (const auto& [sid, p] : peers_.sessions()) {
    auto info = endpoint_->session(sid);
    if (!info || info->peer_serial.empty()) continue;
    if (crl.revoked(reinterpret_cast<const unsigned char*>(info->peer_serial.data()), info->peer_serial.size()))
      revoked.push_back({sid, p.name});
  }
  const uint64_t now = loop_.now_ms();
  for (const auto& [sid, name] : revoked) {
    LOG_WARN("server: reload: closing session %016llx of peer %s: its certificate is revoked",
             (unsigned long long)sid, name.c_str());
    endpoint_->close_session(sid, proto::CloseReason::kicked, now, "certificate revoked");
  }
  return revoked.size();
}

}  // namespace ptun::server
