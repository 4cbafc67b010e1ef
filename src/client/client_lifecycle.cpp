// The client's lifecycle verbs: state transitions (logged), up/down, reload, stats, provider
// messages and the Prometheus text. `ptun down` keeps the process running in `disconnected`
// (so `ptun up` and the on-demand rules can bring the tunnel back); `ptun stop` or SIGTERM ends it.
#include <linux/rtnetlink.h>
#include <mbedtls/build_info.h>

#include "client/client.hpp"
#include "config/client_reload.hpp"
#include "common/sd_notify.hpp"
#include "metrics/exporter.hpp"
#include "metrics/exposition.hpp"
#include "metrics/standard.hpp"
#include "netlink/rtnl.hpp"
#include "tls/credentials.hpp"
#include "tls/dtls_config.hpp"
#include "tls/record_aead.hpp"

namespace ptun::client {

Result<void> Client::setup_lifecycle() {
  // Route lookups need no privilege: this works in userspace mode too.
  auto rt = netlink::Rtnl::open();
  if (!rt) return rt.error();
  path_rtnl_ = std::move(*rt);
  if (auto m = PathMonitor::open(loop_)) {
    monitor_ = std::move(*m);
  } else {
    LOG_WARN("client: no path monitor (%s): polling the route every 2 s", m.error().message.c_str());
  }
  if (cfg_.metrics_listen) {
    auto ex = metrics::Exporter::open(loop_, *cfg_.metrics_listen, [this] { return metrics_text(); });
    if (!ex) return ex.error();
    metrics_ = std::move(*ex);
    LOG_INFO("client: metrics on http://%s/metrics", metrics_->local_endpoint().str().c_str());
  }
  return {};
}

void Client::transition(State to, Reason why, const std::string& detail) {
  State from = life_.state();
  if (!life_.go(to, why, loop_.now_ms(), detail)) return;
  LOG_INFO("client: %s -> %s (%s%s%s)", to_string(from), to_string(to), to_string(why),
           detail.empty() ? "" : ": ", detail.c_str());
  notify_state(to == State::connected);
}

void Client::connect(Reason why) {
  want_up_ = true;
  user_down_ = false;
  if (life_.state() != State::disconnected) return;   // already up or coming up
  attempt_ = 0;
  if (host_) {   // the kill switch before the first datagram (include_all_networks)
    if (auto r = host_->engage(); !r) {   // fail closed: no kill switch, no connection
      settings_error_ = "kill switch: " + r.error().message;
      LOG_ERROR("client: %s", settings_error_.c_str());
      return;
    }
  }
  transition(State::connecting, why);
  start_session();
}

void Client::disconnect(Reason why) {
  want_up_ = false;
  roaming_ = false;
  roam_deadline_ = UINT64_MAX;
  reconnect_at_ = UINT64_MAX;
  cancel_resolve();
  if (life_.state() == State::disconnected) return;
  now_ = loop_.now_ms();
  transition(State::disconnecting, why);
  if (session_ && !session_ended_ && session_->state() != proto::ClientSession::State::closed)
    session_->close(proto::CloseReason::user, now_);   // on_closed fires; want_up_ = false ignores it
  flush();
  session_ended_ = false;
  session_up_ = false;
  if (session_) {
    rekey_failures_prior_ += session_->stats().rekey_failures;
    retired_ = std::move(session_);
  }
  remove_settings();
  if (host_) host_->release(user_down_);   // always_on keeps the kill switch unless `ptun down`
  transition(State::disconnected, why);
  poke_timer();
}

nlohmann::json Client::stats_json() {
  nlohmann::json j;
  j["state"] = to_string(life_.state());
  j["reconnects"] = reconnects_;
  j["roams"] = roams_;
  j["rekeys"] = rekeys_;
  j["transport"] = proto::to_string(transport_);   // dtls (over UDP) or tls (the TCP fallback, §7)
  j["tcp"] = transport_json();
  j["roam_failures"] = roam_failures_;
  j["path_changes"] = path_changes_;
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
    nlohmann::json j{{"interface", path_.ifindex ? path_.ifname : ""}, {"ifindex", path_.ifindex}};
    if (path_.source) j["source"] = path_.source->str();
    if (path_.gateway) j["gateway"] = path_.gateway->str();
    if (sock_) j["local"] = sock_->local_endpoint().str();
    return j;
  }
  if (name == "network") {
    nlohmann::json dns = nlohmann::json::array();
    for (const auto& d : network_.dns_servers) dns.push_back(d.str());
    return nlohmann::json{{"interface", network_.interface},
                          {"type", ondemand::to_string(network_.type)},
                          {"dns_servers", dns},
                          {"search_domains", network_.search_domains},
                          {"on_demand_rule", decision_.rule}};
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

Result<nlohmann::json> Client::reload() {
  if (hosting_.notify_systemd) sd::notify(sd::reloading_message());
  auto r = apply_reload();
  if (hosting_.notify_systemd && ready_sent_) sd::notify("READY=1");
  return r;
}

// READY=1 once connected (or at start with on-demand rules, which may keep it down for good):
// `systemctl start` returns when the tunnel is usable. The embedding program owns its unit.
void Client::notify_state(bool ready) {
  if (!hosting_.notify_systemd) return;
  std::string m;
  if (ready && !ready_sent_) {
    ready_sent_ = true;
    m = "READY=1\n";
  }
  m += "STATUS=" + std::string(to_string(life_.state())) + " (" + to_string(life_.reason()) +
       (life_.detail().empty() ? "" : ": " + life_.detail()) + ")";
  sd::notify(m);
}

Result<nlohmann::json> Client::apply_reload() {
  auto fresh = config::load_client(cfg_.path);
  if (!fresh) return Error(fresh.error().code, "reload refused, running config kept: " + fresh.error().message);
  config::ClientConfig& n = *fresh;
  // What may change and what each change takes: config/client_reload.cpp's table. Anything else
  // (the control socket, the device, the mode, privileges, apps, ...) needs a restart.
  auto plan = config::plan_reload(cfg_, n);
  if (!plan) return Error(plan.error().code, "reload refused, running config kept: " + plan.error().message);
  bool new_servers = plan->has(config::reload_new_servers);
  bool new_session = plan->has(config::reload_new_session);
  std::shared_ptr<tls::DtlsConfig> dtls = dtls_;
  if (new_session) {
    // Everything that can fail is done before anything is changed.
    auto creds = load_credentials(n);
    if (!creds) return Error(creds.error().code, "reload refused, running config kept: " + creds.error().message);
    auto d = tls::DtlsConfig::make_client(*creds, rng_);
    if (!d) return Error(d.error().code, "reload refused, running config kept: " + d.error().message);
    dtls = *d;
    // The servers' addresses (names resolved, socket family, kill switch) follow at the new
    // session's first attempt (client_servers.cpp), as at every reconnect.
  }
  bool host_settings = plan->has(config::reload_host_settings);
  if (plan->has(config::reload_log_level)) {
    log::Level lvl;
    if (log::parse_level(n.log_level.c_str(), &lvl)) log::set_level(lvl);
  }
  bool rules = plan->has(config::reload_on_demand);
  nlohmann::json changed = plan->groups();

  cfg_ = std::move(n);
  dtls_ = dtls;
  if (new_servers) {   // a new list: from its first server, nothing known about any of them
    servers_.reset(cfg_.servers.size());
    resolved_.assign(cfg_.servers.size(), std::nullopt);
  } else if (new_session) {
    servers_.restart();
  }
  std::string session = "kept";
  if (new_session && want_up_) {
    now_ = loop_.now_ms();
    if (session_ && !session_ended_ && session_->state() != proto::ClientSession::State::closed) {
      if (life_.state() == State::connected) transition(State::reasserting, Reason::reload);
      session_->close(proto::CloseReason::user, now_);
      flush();
      session_ended_ = false;
    }
    attempt_ = 0;
    start_session();
    session = "restarted";
  } else if (host_settings && applied_) {
    proto::NetworkSettings s = *applied_;
    remove_settings();
    if (auto r = apply_settings(s); !r) {
      settings_error_ = r.error().message;
      LOG_ERROR("client: reload: cannot re-apply the settings: %s", settings_error_.c_str());
    }
  }
  if (rules && path_wake_) path_wake_->cancel();
  LOG_INFO("client: config reloaded (%zu changes), session %s", changed.size(), session.c_str());
  return nlohmann::json{{"reloaded", true}, {"changed", changed}, {"session", session}};
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
  m.counter("ptun_client_reconnects_total", "Sessions started again after one ended.", double(reconnects_));
  m.counter("ptun_client_roams_total", "Path changes survived by the same session.", double(roams_));
  m.counter("ptun_client_rekeys_total", "Sessions given fresh keys without a break.", double(rekeys_));
  m.counter("ptun_client_rekey_failures_total", "Rekey attempts that failed (the old keys stayed).",
            double(rekey_failures_prior_ + (session_ ? session_->stats().rekey_failures : 0)));
  m.counter("ptun_client_roam_failures_total", "Roams that needed a new handshake.", double(roam_failures_));
  m.counter("ptun_client_path_changes_total", "Changes of the route to the server.", double(path_changes_));
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
