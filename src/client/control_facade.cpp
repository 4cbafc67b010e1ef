#include "client/control_facade.hpp"

#include <mbedtls/build_info.h>

#include "metrics/standard.hpp"
#include "tls/record_aead.hpp"

namespace ptun::client {
namespace {

void merge(nlohmann::json& into, const nlohmann::json& section) {
  if (section.is_object())
    for (auto it = section.begin(); it != section.end(); ++it) into[it.key()] = it.value();
}

}  // namespace

Result<nlohmann::json> ControlFacade::handle(const control::Request& req, uint64_t now, int64_t wall) {
  if (req.cmd == "status") return status(now, wall);
  if (req.cmd == "flows") return src_.flows_section();
  if (req.cmd == "stats") return stats();
  if (req.cmd == "message") return message(req.args);
  if (req.cmd == "reload") return src_.reload_config();
  // `ptun down`: disconnect and stay running (disconnected) until `ptun up`; on-demand rules are
  // paused meanwhile. `ptun stop`: disconnect and exit.
  if (req.cmd == "down") {
    src_.down();
    return nlohmann::json{{"state", to_string(life_.state())}};
  }
  if (req.cmd == "up") {
    src_.up();
    return nlohmann::json{{"state", to_string(life_.state())}};
  }
  if (req.cmd == "stop") {
    src_.stop_client();
    return nlohmann::json{{"stopping", true}};
  }
  return Error(Errc::invalid_argument, "unknown command '" + req.cmd +
                                           "' (status, stats, up, down, stop, reload, message)");
}

nlohmann::json ControlFacade::status(uint64_t now, int64_t wall) {
  nlohmann::json j;
  j["role"] = "client";
  j["state"] = to_string(life_.state());
  j["since_s"] = (now - life_.since_ms()) / 1000;
  j["reason"] = to_string(life_.reason());
  if (!life_.detail().empty()) j["detail"] = life_.detail();
  // The server in use (or being tried) and its address; the whole failover list when there is one.
  j["server"] = driver_.current().str();
  j["endpoint"] = src_.server_endpoint();
  if (driver_.servers().size() > 1) {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& s : driver_.servers()) all.push_back(s.str());
    j["servers"] = all;
  }
  if (driver_.resolving()) j["resolving"] = driver_.current().host;
  if (!driver_.last_error().empty()) j["last_error"] = driver_.last_error();
  merge(j, src_.mode_section());
  j["reconnects"] = driver_.reconnects();
  j["roams"] = paths_.roams();
  j["rekeys"] = src_.rekeys();
  merge(j, src_.transport_section());   // dtls (over UDP) or tls (the TCP fallback, §7)
  j["rekey_failures"] = src_.rekey_failures();
  j["path"] = paths_.path().str();   // "eth0 src 192.168.1.10" or "none"
  if (src_.has_on_demand_rules()) {
    const auto& net = paths_.network();
    j["on_demand"] = src_.on_demand_paused() ? std::string("paused (ptun down)")
                                             : "rule " + std::to_string(paths_.decision().rule) + " on " +
                                                   (net.interface.empty() ? std::string("no network") : net.interface);
  }
  if (auto s = src_.session_facts()) {
    char id[17];
    std::snprintf(id, sizeof id, "%016llx", (unsigned long long)s->id);
    j["session_id"] = id;
    const auto& st = s->stats;
    if (life_.state() == State::connected) {
      j["session_uptime_s"] = (now - s->established_ms) / 1000;
      j["cipher"] = s->cipher;
      j["record_crypto"] = tls::kRecordAeadBackend;   // who seals data records: openssl, libsodium or mbedtls
      if (s->server_time) {
        // The server's clock minus ours at the moment its SETTINGS arrived (one-way delay aside):
        // certificates and CRLs are judged by these clocks.
        int64_t ours_then = wall - int64_t((now - s->settings_at_ms) / 1000);
        j["clock_skew_s"] = s->server_time - ours_then;
      }
    }
    if (st.last_handshake_ms) j["last_handshake_ago_s"] = (now - st.last_handshake_ms) / 1000;
    // No sample before the first PING is answered: shown as missing, not as 0.00 ms.
    if (st.rtt_us_smoothed) j["rtt_ms"] = double(st.rtt_us_smoothed) / 1000.0;
    j["bytes_in"] = st.bytes_in;
    j["bytes_out"] = st.bytes_out;
    j["packets_in"] = st.packets_in;
    j["packets_out"] = st.packets_out;
  }
  merge(j, src_.host_section());
  if (auto apps = src_.apps_section()) j["apps"] = *apps;   // per-app totals (client_flows.cpp)
  j["counters"] = src_.counters_section();
  return j;
}

nlohmann::json ControlFacade::history() const {
  nlohmann::json hist = nlohmann::json::array();
  for (const auto& t : life_.history())
    hist.push_back({{"at_ms", t.at_ms}, {"from", to_string(t.from)}, {"to", to_string(t.to)},
                    {"reason", to_string(t.reason)}, {"detail", t.detail}});
  return hist;
}

nlohmann::json ControlFacade::stats() {
  nlohmann::json j;
  j["state"] = to_string(life_.state());
  j["reconnects"] = driver_.reconnects();
  j["roams"] = paths_.roams();
  j["rekeys"] = src_.rekeys();
  merge(j, src_.transport_section());
  j["roam_failures"] = paths_.roam_failures();
  j["path_changes"] = paths_.path_changes();
  if (auto s = src_.session_facts()) {
    const auto& st = s->stats;
    j["session"] = {{"bytes_in", st.bytes_in},     {"bytes_out", st.bytes_out},
                    {"packets_in", st.packets_in}, {"packets_out", st.packets_out},
                    {"pings_sent", st.pings_sent}, {"pongs_received", st.pongs_received},
                    {"rtt_us", st.rtt_us_smoothed}};
  }
  if (auto udp = src_.udp_section()) j["udp"] = *udp;
  j["counters"] = src_.counters_section();
  j["history"] = history();
  return j;
}

// Provider messages (Apple: NETunnelProviderSession.sendProviderMessage): a request from the CLI or
// an app, answered by the running client. {"cmd":"message","message":NAME,...}.
Result<nlohmann::json> ControlFacade::message(const nlohmann::json& args) {
  if (!args.contains("message") || !args["message"].is_string())
    return Error(Errc::invalid_argument, "message needs a string \"message\" (echo|path|network|history|settings)");
  const std::string name = args["message"].get<std::string>();
  if (name == "echo") return nlohmann::json{{"echo", args.contains("data") ? args["data"] : nlohmann::json()}};
  if (name == "path") {
    const Path& p = paths_.path();
    nlohmann::json j{{"interface", p.ifindex ? p.ifname : ""}, {"ifindex", p.ifindex}};
    if (p.source) j["source"] = p.source->str();
    if (p.gateway) j["gateway"] = p.gateway->str();
    if (auto local = src_.socket_endpoint(); !local.empty()) j["local"] = local;
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
  if (name == "history") return history();
  if (name == "settings") {
    const proto::NetworkSettings* s = src_.applied_settings();
    if (!s) return Error(Errc::not_found, "no settings applied (state " + std::string(to_string(life_.state())) + ")");
    nlohmann::json j;
    if (s->ipv4) j["ipv4"] = s->ipv4->str();
    if (s->ipv6) j["ipv6"] = s->ipv6->str();
    j["mtu"] = s->mtu;
    j["keepalive_secs"] = s->keepalive_secs;
    j["dead_peer_secs"] = s->dead_peer_secs;
    return j;
  }
  return Error(Errc::invalid_argument, "unknown message '" + name + "' (echo|path|network|history|settings)");
}

std::string ControlFacade::metrics(uint64_t now) {
  using metrics::Labels;
  metrics::Exposition m;
  for (State s : {State::disconnected, State::connecting, State::connected, State::reasserting, State::disconnecting})
    m.gauge("ptun_client_state", "1 for the tunnel's current state (NEVPNStatus).", life_.state() == s ? 1 : 0,
            Labels{{"state", to_string(s)}});
  metrics::add_build_info(m, MBEDTLS_VERSION_STRING, tls::kRecordAeadBackend);
  for (const auto& c : src_.certificates())
    metrics::add_certificate_expiry(m, c.kind, c.subject, c.serial, c.not_after);
  m.histogram("ptun_client_handshake_duration_seconds", "From a connect attempt to the tunnel connected.",
              src_.handshake_seconds());
  m.gauge("ptun_client_state_seconds", "Seconds in the current state.", double(now - life_.since_ms()) / 1000.0);
  m.counter("ptun_client_reconnects_total", "Sessions started again after one ended.", double(driver_.reconnects()));
  m.counter("ptun_client_roams_total", "Path changes survived by the same session.", double(paths_.roams()));
  m.counter("ptun_client_rekeys_total", "Sessions given fresh keys without a break.", double(src_.rekeys()));
  m.counter("ptun_client_rekey_failures_total", "Rekey attempts that failed (the old keys stayed).",
            double(src_.rekey_failures()));
  m.counter("ptun_client_roam_failures_total", "Roams that needed a new handshake.", double(paths_.roam_failures()));
  m.counter("ptun_client_path_changes_total", "Changes of the route to the server.", double(paths_.path_changes()));
  m.gauge("ptun_client_route_overrides", "Host routes that take traffic from the tunnel's routes (TunnelVision).",
          double(src_.route_overrides()));
  m.counter("ptun_client_route_overrides_total", "Host routes seen taking traffic from the tunnel's routes.",
            double(src_.route_overrides_seen()));
  if (auto s = src_.session_facts()) {
    const auto& st = s->stats;
    m.counter("ptun_client_received_bytes_total", "Bytes received through the tunnel (session).", double(st.bytes_in));
    m.counter("ptun_client_sent_bytes_total", "Bytes sent through the tunnel (session).", double(st.bytes_out));
    m.counter("ptun_client_received_packets_total", "Packets received through the tunnel (session).", double(st.packets_in));
    m.counter("ptun_client_sent_packets_total", "Packets sent through the tunnel (session).", double(st.packets_out));
    m.gauge("ptun_client_rtt_seconds", "Smoothed round-trip time to the server.", double(st.rtt_us_smoothed) / 1e6);
    if (life_.state() == State::connected)
      m.gauge("ptun_client_session_uptime_seconds", "Seconds since the session was established.",
              double(now - s->established_ms) / 1000.0);
    if (st.last_handshake_ms)
      m.gauge("ptun_client_last_handshake_seconds", "Seconds since the last handshake.",
              double(now - st.last_handshake_ms) / 1000.0);
  }
  src_.more_metrics(m);   // drops, TUN, apps
  return m.text();
}

}  // namespace ptun::client
