// The server's answers on its control socket: status, sessions, kick, stop.
#include "server/server.hpp"

namespace ptun::server {

nlohmann::json Server::status_json() {
  nlohmann::json j;
  j["role"] = "server";
  j["state"] = "running";
  j["uptime_s"] = (loop_.now_ms() - started_ms_) / 1000;
  j["interface"] = cfg_.tunnel.interface;
  j["mtu"] = cfg_.tunnel.mtu;
  nlohmann::json listen = nlohmann::json::array();
  for (const auto& e : cfg_.listen) listen.push_back(e.str());
  j["listen"] = listen;
  if (auto a = addresses_.server_v4()) j["ipv4"] = a->str();
  if (auto a = addresses_.server_v6()) j["ipv6"] = a->str();
  j["sessions"] = peers_.size();
  j["counters"] = {
      {"tun_rx_packets", counters_.tun_rx_packets}, {"tun_tx_packets", counters_.tun_tx_packets},
      {"drop_spoofed", counters_.drop_spoofed}, {"drop_link_local", counters_.drop_link_local},     {"drop_no_session", counters_.drop_no_session},
      {"drop_malformed", counters_.drop_malformed}, {"drop_too_big", counters_.drop_too_big},
      {"drop_tun_write", counters_.drop_tun_write}, {"drop_udp_send", counters_.drop_udp_send},
      {"drop_pool_empty", counters_.drop_pool_empty}};
  const auto& c = endpoint_->counters();
  j["half_open"] = endpoint_->half_open_count();
  j["ingress"] = {{"datagrams_in", c.datagrams_in},       {"bad_header", c.bad_header},
                  {"unknown_version", c.unknown_version}, {"unknown_kind", c.unknown_kind},
                  {"unknown_session", c.unknown_session}, {"not_client_hello", c.not_client_hello},
                  {"malformed_hello", c.malformed_hello}, {"cookie_sent", c.cookie_sent},
                  {"session_limit", c.session_limit},     {"half_open_limit", c.half_open_limit},
                  {"rate_limited", c.rate_limited},       {"session_collision", c.session_collision},
                  {"roam_unauthenticated", c.roam_unauthenticated}, {"replay_or_auth", c.replay_or_auth},
                  {"handshake_failed", c.handshake_failed}, {"handshake_timeout", c.handshake_timeout},
                  {"sessions_created", c.sessions_created}, {"sessions_established", c.sessions_established},
                  {"refused", c.refused}};
  return j;
}

nlohmann::json Server::sessions_json() {
  nlohmann::json arr = nlohmann::json::array();
  uint64_t now = loop_.now_ms();
  for (const auto& [sid, p] : peers_) {
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
    auto it = session_by_peer_.find(name);
    if (it == session_by_peer_.end()) return Error(Errc::not_found, "no session for peer '" + name + "'");
    endpoint_->close_session(it->second, proto::CloseReason::kicked, loop_.now_ms());
    flush();
    return nlohmann::json{{"kicked", name}};
  }
  if (req.cmd == "stop") {
    stop();
    return nlohmann::json{{"stopping", true}};
  }
  return Error(Errc::invalid_argument, "unknown command '" + req.cmd + "'");
}

}  // namespace ptun::server
