// What the client tells the outside: its control socket's answers (status as `wg show` shows a
// tunnel, stats, down, ...), provider messages and the Prometheus text.
#include <linux/rtnetlink.h>
#include <mbedtls/build_info.h>

#include <ctime>

#include "client/client.hpp"
#include "metrics/exporter.hpp"
#include "metrics/exposition.hpp"
#include "metrics/standard.hpp"
#include "netlink/rtnl.hpp"
#include "tls/credentials.hpp"
#include "tls/dtls_config.hpp"
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
  j["server"] = driver_.current().str();
  j["endpoint"] = server_ep_.addr.empty() ? std::string() : server_ep_.str();
  if (cfg_.servers.size() > 1) {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& s : cfg_.servers) all.push_back(s.str());
    j["servers"] = all;
  }
  if (driver_.resolving()) j["resolving"] = driver_.current().host;
  if (!driver_.last_error().empty()) j["last_error"] = driver_.last_error();
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
  j["reconnects"] = driver_.reconnects();
  j["roams"] = paths_.roams();
  j["rekeys"] = rekeys_;
  j["transport"] = proto::to_string(transport_);   // dtls (over UDP) or tls (the TCP fallback, §7)
  j["tcp"] = transport_json();
  j["rekey_failures"] = rekey_failures_prior_ + (session_ ? session_->stats().rekey_failures : 0);
  j["path"] = paths_.path().str();   // "eth0 src 192.168.1.10" or "none"
  if (!cfg_.on_demand.empty())
    j["on_demand"] = on_demand_paused_ ? std::string("paused (ptun down)")
                                       : "rule " + std::to_string(paths_.decision().rule) + " on " +
                                             (paths_.network().interface.empty() ? std::string("no network") : paths_.network().interface);
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

nlohmann::json Client::stats_json() {
  nlohmann::json j;
  j["state"] = to_string(life_.state());
  j["reconnects"] = driver_.reconnects();
  j["roams"] = paths_.roams();
  j["rekeys"] = rekeys_;
  j["transport"] = proto::to_string(transport_);   // dtls (over UDP) or tls (the TCP fallback, §7)
  j["tcp"] = transport_json();
  j["roam_failures"] = paths_.roam_failures();
  j["path_changes"] = paths_.path_changes();
  if (session_) {
    const auto& st = session_->stats();
    j["session"] = {{"bytes_in", st.bytes_in},     {"bytes_out", st.bytes_out},
                    {"packets_in", st.packets_in}, {"packets_out", st.packets_out},
                    {"pings_sent", st.pings_sent}, {"pongs_received", st.pongs_received},
                    {"rtt_us", st.rtt_us_smoothed}};
  }
  if (sock_) j["udp"] = {{"rx_truncated", sock_->stats().rx_truncated}, {"tx_dropped", sock_->stats().tx_dropped}};
  j["counters"] = status_json()["counters"];
  nlohmann::json hist = nlohmann::json::array();
  for (const auto& t : life_.history())
    hist.push_back({{"at_ms", t.at_ms}, {"from", to_string(t.from)}, {"to", to_string(t.to)},
                    {"reason", to_string(t.reason)}, {"detail", t.detail}});
  j["history"] = hist;
  return j;
}

// Provider messages (Apple: NETunnelProviderSession.sendProviderMessage): a request from the CLI or
// an app, answered by the running client. {"cmd":"message","message":NAME,...}.
Result<nlohmann::json> Client::provider_message(const nlohmann::json& args) {
  if (!args.contains("message") || !args["message"].is_string())
    return Error(Errc::invalid_argument, "message needs a string \"message\" (echo|path|network|history|settings)");
  const std::string name = args["message"].get<std::string>();
  if (name == "echo") return nlohmann::json{{"echo", args.contains("data") ? args["data"] : nlohmann::json()}};
  if (name == "path") {
    const Path& p = paths_.path();
    nlohmann::json j{{"interface", p.ifindex ? p.ifname : ""}, {"ifindex", p.ifindex}};
    if (p.source) j["source"] = p.source->str();
    if (p.gateway) j["gateway"] = p.gateway->str();
    if (sock_) j["local"] = sock_->local_endpoint().str();
    return j;
  }
  if (name == "network") {
    nlohmann::json dns = nlohmann::json::array();
    const ondemand::Network& n = paths_.network();
    for (const auto& d : n.dns_servers) dns.push_back(d.str());
    return nlohmann::json{{"interface", n.interface},
                          {"type", ondemand::to_string(n.type)},
                          {"dns_servers", dns},
                          {"search_domains", n.search_domains},
                          {"on_demand_rule", paths_.decision().rule}};
  }
  if (name == "history") return stats_json()["history"];
  if (name == "settings") {
    if (!applied_) return Error(Errc::not_found, "no settings applied (state " + std::string(to_string(life_.state())) + ")");
    nlohmann::json j;
    if (applied_->ipv4) j["ipv4"] = applied_->ipv4->str();
    if (applied_->ipv6) j["ipv6"] = applied_->ipv6->str();
    j["mtu"] = applied_->mtu;
    j["keepalive_secs"] = applied_->keepalive_secs;
    j["dead_peer_secs"] = applied_->dead_peer_secs;
    return j;
  }
  return Error(Errc::invalid_argument, "unknown message '" + name + "' (echo|path|network|history|settings)");
}

std::string Client::metrics_text() {
  using metrics::Labels;
  metrics::Exposition m;
  uint64_t now = loop_.now_ms();
  for (State s : {State::disconnected, State::connecting, State::connected, State::reasserting, State::disconnecting})
    m.gauge("ptun_client_state", "1 for the tunnel's current state (NEVPNStatus).", life_.state() == s ? 1 : 0,
            Labels{{"state", to_string(s)}});
  metrics::add_build_info(m, MBEDTLS_VERSION_STRING, tls::kRecordAeadBackend);
  for (const auto& c : dtls_->credentials().expiries())
    metrics::add_certificate_expiry(m, c.kind, c.subject, c.serial, c.not_after);
  m.histogram("ptun_client_handshake_duration_seconds", "From a connect attempt to the tunnel connected.",
              handshake_seconds_);
  m.gauge("ptun_client_state_seconds", "Seconds in the current state.", double(now - life_.since_ms()) / 1000.0);
  m.counter("ptun_client_reconnects_total", "Sessions started again after one ended.", double(driver_.reconnects()));
  m.counter("ptun_client_roams_total", "Path changes survived by the same session.", double(paths_.roams()));
  m.counter("ptun_client_rekeys_total", "Sessions given fresh keys without a break.", double(rekeys_));
  m.counter("ptun_client_rekey_failures_total", "Rekey attempts that failed (the old keys stayed).",
            double(rekey_failures_prior_ + (session_ ? session_->stats().rekey_failures : 0)));
  m.counter("ptun_client_roam_failures_total", "Roams that needed a new handshake.", double(paths_.roam_failures()));
  m.counter("ptun_client_path_changes_total", "Changes of the route to the server.", double(paths_.path_changes()));
  m.gauge("ptun_client_route_overrides", "Host routes that take traffic from the tunnel's routes (TunnelVision).",
          double(overrides_.size()));
  m.counter("ptun_client_route_overrides_total", "Host routes seen taking traffic from the tunnel's routes.",
            double(overrides_seen_));
  if (session_) {
    const auto& st = session_->stats();
    m.counter("ptun_client_received_bytes_total", "Bytes received through the tunnel (session).", double(st.bytes_in));
    m.counter("ptun_client_sent_bytes_total", "Bytes sent through the tunnel (session).", double(st.bytes_out));
    m.counter("ptun_client_received_packets_total", "Packets received through the tunnel (session).", double(st.packets_in));
    m.counter("ptun_client_sent_packets_total", "Packets sent through the tunnel (session).", double(st.packets_out));
    m.gauge("ptun_client_rtt_seconds", "Smoothed round-trip time to the server.", double(st.rtt_us_smoothed) / 1e6);
    if (life_.state() == State::connected)
      m.gauge("ptun_client_session_uptime_seconds", "Seconds since the session was established.",
              double(now - established_ms_) / 1000.0);
    if (st.last_handshake_ms)
      m.gauge("ptun_client_last_handshake_seconds", "Seconds since the last handshake.",
              double(now - st.last_handshake_ms) / 1000.0);
  }
  auto drops = datapath::drop_causes(dp_.counters());
  drops.emplace_back("not_connected", counters_.drop_not_connected);
  drops.emplace_back("foreign_source", counters_.drop_foreign_source);
  for (const auto& [cause, n] : drops)
    m.counter("ptun_client_dropped_packets_total", "Packets dropped, by cause.", double(n), Labels{{"cause", cause}});
  m.counter("ptun_client_tun_read_packets_total", "Packets read from the TUN.", double(dp_.counters().dev_rx_packets));
  m.counter("ptun_client_tun_written_packets_total", "Packets written to the TUN.", double(dp_.counters().dev_tx_packets));
  app_metrics(m);   // client_flows.cpp
  return m.text();
}

}  // namespace ptun::client
