// The client's answers on its control socket: status (as `wg show` shows a tunnel), down.
#include <linux/rtnetlink.h>

#include <ctime>

#include "client/client.hpp"
#include "tls/record_aead.hpp"

namespace ptun::client {

nlohmann::json Client::status_json() {
  uint64_t now = loop_.now_ms();
  nlohmann::json j;
  j["role"] = "client";
  j["state"] = to_string(life_.state());
  j["since_s"] = (now - life_.since_ms()) / 1000;
  j["reason"] = to_string(life_.reason());
  if (!life_.detail().empty()) j["detail"] = life_.detail();
  // The server in use (or being tried) and its address; the whole failover list when there is one.
  j["server"] = current_server().str();
  j["endpoint"] = server_ep_.addr.empty() ? std::string() : server_ep_.str();
  if (cfg_.servers.size() > 1) {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& s : cfg_.servers) all.push_back(s.str());
    j["servers"] = all;
  }
  if (resolving_) j["resolving"] = current_server().host;
  if (!attempt_error_.empty()) j["last_error"] = attempt_error_;
  j["mode"] = cfg_.mode;
  if (cfg_.mode == "userspace") {
    if (proxy_) {
      const auto& p = proxy_->stats();
      j["proxy"] = {{"active", proxy_->active()},         {"accepted", p.accepted},
                    {"refused_cap", p.refused_cap},       {"handshake_timeouts", p.handshake_timeouts},
                    {"bad_requests", p.bad_requests},     {"auth_failures", p.auth_failures},
                    {"not_allowed", p.not_allowed},       {"connect_failures", p.connect_failures},
                    {"relayed", p.relayed},               {"udp_foreign", p.udp_foreign}};
    }
    if (stack_) {
      const auto& n = stack_->netstack_stats();
      j["netstack"] = {{"tcp_connections", stack_->tcp_count()}, {"in_packets", n.in_packets},
                       {"in_rejected", n.in_rejected},         {"out_packets", n.out_packets},
                       {"out_dropped", n.out_dropped},         {"tcp_refused_limit", n.tcp_refused_limit},
                       {"udp_refused_limit", n.udp_refused_limit}};
    }
  } else {
    j["interface"] = cfg_.tunnel.interface;
  }
  j["reconnects"] = reconnects_;
  j["roams"] = roams_;
  j["rekeys"] = rekeys_;
  j["transport"] = proto::to_string(transport_);   // dtls (over UDP) or tls (the TCP fallback, §7)
  j["tcp"] = transport_json();
  j["rekey_failures"] = rekey_failures_prior_ + (session_ ? session_->stats().rekey_failures : 0);
  if (path_.ifindex) {
    j["path"] = path_.ifname + (path_.source ? " src " + path_.source->str() : std::string());
  } else {
    j["path"] = "none";
  }
  if (!cfg_.on_demand.empty())
    j["on_demand"] = on_demand_paused_ ? std::string("paused (ptun down)")
                                       : "rule " + std::to_string(decision_.rule) + " on " +
                                             (network_.interface.empty() ? std::string("no network") : network_.interface);
  if (session_) {
    char id[17];
    std::snprintf(id, sizeof id, "%016llx", (unsigned long long)session_->session_id());
    j["session_id"] = id;
    const auto& st = session_->stats();
    if (life_.state() == State::connected) {
      j["session_uptime_s"] = (now - established_ms_) / 1000;
      j["cipher"] = session_->ciphersuite();
      j["record_crypto"] = tls::kRecordAeadBackend;   // who seals data records: openssl or mbedtls
      if (session_->server_time()) {
        // The server's clock minus ours at the moment its SETTINGS arrived (one-way delay aside):
        // certificates and CRLs are judged by these clocks.
        int64_t ours_then = int64_t(::time(nullptr)) - int64_t((now - session_->settings_at_ms()) / 1000);
        j["clock_skew_s"] = session_->server_time() - ours_then;
      }
    }
    if (st.last_handshake_ms) j["last_handshake_ago_s"] = (now - st.last_handshake_ms) / 1000;
    j["rtt_ms"] = double(st.rtt_us_smoothed) / 1000.0;
    j["bytes_in"] = st.bytes_in;
    j["bytes_out"] = st.bytes_out;
    j["packets_in"] = st.packets_in;
    j["packets_out"] = st.packets_out;
  }
  if (applied_) {
    nlohmann::json addrs = nlohmann::json::array(), inc = nlohmann::json::array(),
                   exc = nlohmann::json::array(), dns = nlohmann::json::array();
    for (const auto& a : applied_addrs_) addrs.push_back(a.str());
    if (host_ && host_->applied())
      for (const auto& r : host_->applied()->routes.routes)
        (r.type == RTN_THROW ? exc : inc).push_back(r.dst.str());
    for (const auto& d : applied_->dns_servers) dns.push_back(d.str());
    j["addresses"] = addrs;
    j["mtu"] = tun_mtu_;
    j["included_routes"] = inc;
    j["excluded_routes"] = exc;
    j["dns_servers"] = dns;
    j["search_domains"] = applied_->search_domains;
    j["match_domains"] = applied_->match_domains;
    if (applied_->server_ipv4) j["server_tunnel_ipv4"] = applied_->server_ipv4->str();   // doctor's DF pings
    if (applied_->server_ipv6) j["server_tunnel_ipv6"] = applied_->server_ipv6->str();
    j["protect_routes"] = protect_routes();
    j["route_overrides"] = overrides_json();
  }
  if (host_) {
    j["kill_switch"] = host_->kill_switch();
    j["dns_backend"] = host_->dns_backend();
  }
  if (!settings_error_.empty()) j["settings_error"] = settings_error_;
  if (flows_ || !app_rules_.empty()) j["apps"] = apps_json();   // per-app totals (client_flows.cpp)
  j["counters"] = datapath::to_json(dp_.counters());
  j["counters"]["drop_not_connected"] = counters_.drop_not_connected;
  j["counters"]["drop_foreign_source"] = counters_.drop_foreign_source;
  j["counters"]["route_overrides_seen"] = overrides_seen_;
  return j;
}

Result<nlohmann::json> Client::handle_control(const control::Request& req) {
  if (req.cmd == "status") return status_json();
  if (req.cmd == "flows") return flows_json();
  if (req.cmd == "stats") return stats_json();
  if (req.cmd == "message") return provider_message(req.args);
  if (req.cmd == "reload") return reload();
  // `ptun down`: disconnect and stay running (disconnected) until `ptun up`; on-demand rules are
  // paused meanwhile. `ptun stop`: disconnect and exit.
  if (req.cmd == "down") {
    user_down_ = true;   // always_on: the user disconnects on purpose
    on_demand_paused_ = true;
    disconnect(Reason::user);
    return nlohmann::json{{"state", to_string(life_.state())}};
  }
  if (req.cmd == "up") {
    on_demand_paused_ = false;
    connect(Reason::user);
    return nlohmann::json{{"state", to_string(life_.state())}};
  }
  if (req.cmd == "stop") {
    stop();
    return nlohmann::json{{"stopping", true}};
  }
  return Error(Errc::invalid_argument, "unknown command '" + req.cmd +
                                           "' (status, stats, up, down, stop, reload, message)");
}

}  // namespace ptun::client
