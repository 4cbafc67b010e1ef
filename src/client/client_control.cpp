// What the client tells the outside: the Client's side of ControlFacade (control_facade.hpp),
// which renders status (as `wg show` shows a tunnel), stats, provider messages and the Prometheus
// text: the facts and sections only the Client holds (session, host settings, mode, counters), and
// the verbs (up, down, stop, reload).
#include <linux/rtnetlink.h>

#include <ctime>

#include "client/client.hpp"
#include "metrics/exposition.hpp"
#include "tls/credentials.hpp"
#include "tls/dtls_config.hpp"

namespace ptun::client {

// The facade's verbs and facts (control_facade.hpp); it renders them.
Result<nlohmann::json> Client::handle_control(const control::Request& req) {
  return facade_.handle(req, loop_.now_ms(), int64_t(::time(nullptr)));
}

std::string Client::metrics_text() { return facade_.metrics(loop_.now_ms()); }

void Client::up() {
  on_demand_paused_ = false;
  connect(Reason::user);
}

void Client::down() {
  user_down_ = true;   // always_on: the user disconnects on purpose
  on_demand_paused_ = true;
  disconnect(Reason::user);
}

std::optional<SessionFacts> Client::session_facts() const {
  if (!session_) return std::nullopt;
  SessionFacts f;
  f.id = session_->session_id();
  f.cipher = session_->ciphersuite();
  f.stats = session_->stats();
  f.established_ms = established_ms_;
  f.server_time = session_->server_time();
  f.settings_at_ms = session_->settings_at_ms();
  return f;
}

uint64_t Client::rekey_failures() const {
  return rekey_failures_prior_ + (session_ ? session_->stats().rekey_failures : 0);
}

std::vector<CertificateExpiry> Client::certificates() const {
  std::vector<CertificateExpiry> out;
  for (const auto& c : dtls_->credentials().expiries()) out.push_back({c.kind, c.subject, c.serial, c.not_after});
  return out;
}

nlohmann::json Client::mode_section() const {
  nlohmann::json j;
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
  return j;
}

nlohmann::json Client::transport_section() const {
  return nlohmann::json{{"transport", proto::to_string(transport_)}, {"tcp", transport_json()}};
}

nlohmann::json Client::host_section() const {
  nlohmann::json j = nlohmann::json::object();
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
  return j;
}

nlohmann::json Client::counters_section() const {
  nlohmann::json j = datapath::to_json(dp_.counters());
  j["drop_not_connected"] = counters_.drop_not_connected;
  j["drop_foreign_source"] = counters_.drop_foreign_source;
  j["route_overrides_seen"] = overrides_seen_;
  return j;
}

std::optional<nlohmann::json> Client::udp_section() const {
  if (!sock_) return std::nullopt;
  const core::UdpStats st = sock_->stats();
  return nlohmann::json{{"rx_truncated", st.rx_truncated},
                        {"tx_dropped", st.tx_dropped},
                        {"icmp_errors", st.icmp_errors},
                        {"connected", sock_->connected_peer().has_value()}};
}

std::optional<nlohmann::json> Client::apps_section() {
  if (!flows_ && app_rules_.empty()) return std::nullopt;
  return apps_json();   // per-app totals (client_flows.cpp)
}

void Client::more_metrics(metrics::Exposition& m) {
  using metrics::Labels;
  auto drops = datapath::drop_causes(dp_.counters());
  drops.emplace_back("not_connected", counters_.drop_not_connected);
  drops.emplace_back("foreign_source", counters_.drop_foreign_source);
  for (const auto& [cause, n] : drops)
    m.counter("ptun_client_dropped_packets_total", "Packets dropped, by cause.", double(n), Labels{{"cause", cause}});
  m.counter("ptun_client_tun_read_packets_total", "Packets read from the TUN.", double(dp_.counters().dev_rx_packets));
  m.counter("ptun_client_tun_written_packets_total", "Packets written to the TUN.", double(dp_.counters().dev_tx_packets));
  app_metrics(m);   // client_flows.cpp
}

}  // namespace ptun::client
