// The server's Prometheus text (metrics_listen): per peer name (lifetime numbers from the
// PeerLedger plus the live session's), handshake latency, certificates, drops by cause.
#include <mbedtls/build_info.h>

#include "metrics/exposition.hpp"
#include "metrics/standard.hpp"
#include "server/server.hpp"
#include "tls/record_aead.hpp"

namespace ptun::server {

void Server::list_peers_for_metrics() {
  std::vector<std::string> names;
  for (const auto& p : cfg_.peers) names.push_back(p.name);
  ledger_.set_listed(names);
}

namespace {

struct Live {   // the live sessions of one label (one, except for PeerLedger::kOther)
  proto::SessionStats sum;
  size_t sessions = 0;
  uint64_t uptime_ms = 0, rtt_us = 0;
};

void peer_metrics(metrics::Exposition& m, const std::string& peer, const PeerTotals& t, const Live& l) {
  using metrics::Labels;
  Labels lb{{"peer", peer}};
  m.counter("ptun_server_peer_received_bytes_total", "Bytes received from the peer, over all its sessions.",
            double(t.bytes_in + l.sum.bytes_in), lb);
  m.counter("ptun_server_peer_sent_bytes_total", "Bytes sent to the peer, over all its sessions.",
            double(t.bytes_out + l.sum.bytes_out), lb);
  m.counter("ptun_server_peer_received_packets_total", "Packets received from the peer, over all its sessions.",
            double(t.packets_in + l.sum.packets_in), lb);
  m.counter("ptun_server_peer_sent_packets_total", "Packets sent to the peer, over all its sessions.",
            double(t.packets_out + l.sum.packets_out), lb);
  m.counter("ptun_server_peer_roams_total", "Address changes of the peer, over all its sessions.",
            double(t.roams + l.sum.roams), lb);
  m.counter("ptun_server_peer_handshakes_total", "DTLS handshakes completed with this name (refused ones too).",
            double(t.handshakes), lb);
  m.counter("ptun_server_peer_sessions_total", "Sessions established by the peer.", double(t.sessions), lb);
  m.gauge("ptun_server_peer_connected", "Live sessions of the peer (0 or 1; more only for \"(other)\").",
          double(l.sessions), lb);
  if (t.last_handshake_unix)
    m.gauge("ptun_server_peer_last_handshake_timestamp_seconds", "Unix time of the peer's last handshake.",
            double(t.last_handshake_unix), lb);
  if (t.cert_not_after && peer != PeerLedger::kOther)
    m.gauge("ptun_server_peer_certificate_expiry_timestamp_seconds",
            "notAfter of the certificate the peer last presented (unix time).", double(t.cert_not_after), lb);
  if (l.sessions == 1) {
    m.gauge("ptun_server_peer_session_uptime_seconds", "Seconds since the peer's live session started.",
            double(l.uptime_ms) / 1000.0, lb);
    m.gauge("ptun_server_peer_rtt_seconds", "Smoothed round-trip time to the peer.", double(l.rtt_us) / 1e6, lb);
  }
}

}  // namespace

std::string Server::metrics_text() {
  using metrics::Labels;
  metrics::Exposition m;
  uint64_t now = loop_.now_ms();
  m.gauge("ptun_server_uptime_seconds", "Seconds since the server started.", double(now - started_ms_) / 1000.0);
  m.gauge("ptun_server_sessions", "Established sessions.", double(peers_.size()));
  m.gauge("ptun_server_half_open_sessions", "Handshakes in progress.", double(endpoint_->half_open_count()));
  metrics::add_build_info(m, MBEDTLS_VERSION_STRING, tls::kRecordAeadBackend);
  for (const auto& c : dtls_->credentials().expiries())
    metrics::add_certificate_expiry(m, c.kind, c.subject, c.serial, c.not_after);
  m.histogram("ptun_server_handshake_duration_seconds",
              "From the cookie-verified ClientHello to the session established.", handshake_seconds_);
  std::map<std::string, Live> live;
  for (const auto& [sid, p] : peers_.sessions()) {
    auto info = endpoint_->session(sid);
    if (!info) continue;
    Live& l = live[ledger_.label(p.name)];
    const auto& st = info->stats;
    l.sum.bytes_in += st.bytes_in;
    l.sum.bytes_out += st.bytes_out;
    l.sum.packets_in += st.packets_in;
    l.sum.packets_out += st.packets_out;
    l.sum.roams += st.roams;
    ++l.sessions;
    l.uptime_ms = now - p.started_ms;
    l.rtt_us = st.rtt_us_smoothed;
  }
  for (const auto& [peer, totals] : ledger_.entries()) peer_metrics(m, peer, totals, live[peer]);
  auto drops = datapath::drop_causes(dp_.counters());
  drops.emplace_back("spoofed", counters_.drop_spoofed);
  drops.emplace_back("link_local", counters_.drop_link_local);
  drops.emplace_back("no_session", counters_.drop_no_session);
  drops.emplace_back("client_to_client", counters_.drop_client_to_client);
  for (const auto& [cause, v] : drops)
    m.counter("ptun_server_dropped_packets_total", "Packets dropped, by cause.", double(v), Labels{{"cause", cause}});
  m.counter("ptun_server_tun_read_packets_total", "Packets read from the TUN.", double(dp_.counters().dev_rx_packets));
  m.counter("ptun_server_tun_written_packets_total", "Packets written to the TUN.", double(dp_.counters().dev_tx_packets));
  const auto& c = endpoint_->counters();
  m.counter("ptun_server_datagrams_received_total", "UDP datagrams received.", double(c.datagrams_in));
  m.counter("ptun_server_sessions_created_total", "Sessions created (handshakes started).", double(c.sessions_created));
  m.counter("ptun_server_sessions_established_total", "Sessions established.", double(c.sessions_established));
  const std::pair<const char*, uint64_t> ingress[] = {
      {"bad_header", c.bad_header},           {"unknown_version", c.unknown_version},
      {"unknown_kind", c.unknown_kind},       {"unknown_session", c.unknown_session},
      {"rate_limited", c.rate_limited},       {"session_limit", c.session_limit},
      {"half_open_limit", c.half_open_limit}, {"replay_or_auth", c.replay_or_auth},
      {"handshake_failed", c.handshake_failed}, {"handshake_timeout", c.handshake_timeout},
      {"refused", c.refused},                 {"half_open_source_limit", c.half_open_source_limit},
      {"half_open_evicted", c.half_open_evicted}};
  m.counter("ptun_server_rekeys_total", "Sessions replaced by a rekey of the same peer without a break.",
            double(counters_.rekeys));
  m.counter("ptun_server_fingerprint_refused_total",
            "Handshakes of a pinned peer refused: the certificate is not the pinned one.",
            double(counters_.fingerprint_refused));
  for (const auto& [cause, v] : ingress)
    m.counter("ptun_server_ingress_dropped_total", "Datagrams or handshakes refused, by cause.", double(v),
              Labels{{"cause", cause}});
  dns_proxy_metrics(m);
  if (forwarder_) {   // userspace forwarding: live flows by protocol, and what happened to flows
    const nlohmann::json fj = forwarder_json();
    for (const auto& [key, v] : fj.items()) {
      if (key.ends_with("_flows"))
        m.gauge("ptun_server_userspace_flows", "Relayed flows open, by protocol.", v.get<double>(),
                Labels{{"proto", key.substr(0, key.size() - 6)}});
      else
        m.counter("ptun_server_userspace_events_total", "Userspace forwarding events, by kind.", v.get<double>(),
                  Labels{{"event", key}});
    }
  }
  return m.text();
}

}  // namespace ptun::server
