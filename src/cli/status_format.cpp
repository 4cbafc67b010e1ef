#include "cli/status_format.hpp"

#include <cstdio>
#include <iostream>
#include <string>

namespace ptun::cli {
namespace {

std::string s(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) return "";
  const auto& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v) out += (out.empty() ? "" : ", ") + (e.is_string() ? e.get<std::string>() : e.dump());
    return out;
  }
  return v.dump();
}

uint64_t u(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number_unsigned() ? j[key].get<uint64_t>() : 0;
}

void line(const char* label, const std::string& value) {
  if (!value.empty()) std::printf("  %-18s %s\n", label, value.c_str());
}

std::string duration(uint64_t secs) {
  char b[64];
  if (secs < 60) std::snprintf(b, sizeof b, "%llus", (unsigned long long)secs);
  else if (secs < 3600) std::snprintf(b, sizeof b, "%llum %llus", (unsigned long long)secs / 60, (unsigned long long)secs % 60);
  else std::snprintf(b, sizeof b, "%lluh %llum", (unsigned long long)secs / 3600, (unsigned long long)(secs % 3600) / 60);
  return b;
}

}  // namespace

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(n);
  int i = 0;
  while (v >= 1024 && i < 4) { v /= 1024; ++i; }
  char b[32];
  std::snprintf(b, sizeof b, i ? "%.2f %s" : "%.0f %s", v, units[i]);
  return b;
}

void print_status(const nlohmann::json& j) {
  if (s(j, "role") == "server") {
    if (j.contains("userspace"))
      std::printf("server: userspace forwarding (no TUN)\n");
    else
      std::printf("server: %s\n", s(j, "interface").c_str());
    line("state:", s(j, "state") + " for " + duration(u(j, "uptime_s")));
    line("listening:", s(j, "listen"));
    line("addresses:", s(j, "ipv4") + " " + s(j, "ipv6"));
    line("mtu:", s(j, "mtu"));
    line("sessions:", s(j, "sessions"));
    line("peers configured:", s(j, "peers_configured"));
    if (j.contains("cluster") && j["cluster"].is_object()) {   // [cluster]: how this server sees etcd
      const auto& c = j["cluster"];
      std::string v = s(c, "state") + " for " + duration(u(c, "since_s")) + ", " + s(c, "members") + " etcd members";
      if (u(c, "members_down")) v += " (" + s(c, "members_down") + " down)";
      if (c.contains("last_error"))
        v += "; last error " + duration(u(c, "last_error_ago_s")) + " ago: " + s(c, "last_error");
      line("cluster:", v);
    }
    if (j.contains("userspace"))
      line("relayed flows:", s(j["userspace"], "tcp_flows") + " tcp, " + s(j["userspace"], "udp_flows") + " udp, " +
                                 s(j["userspace"], "icmp_flows") + " ping");
    return;
  }
  if (j.contains("proxy"))
    std::printf("tunnel: userspace (lwIP), %s proxied connections\n", s(j["proxy"], "active").c_str());
  else
    std::printf("tunnel: %s\n", s(j, "interface").c_str());
  std::string state = s(j, "state") + " since " + duration(u(j, "since_s")) + " ago";
  if (j.contains("reason")) state += " (" + s(j, "reason") + (j.contains("detail") ? ": " + s(j, "detail") : "") + ")";
  line("state:", state);
  line("server:", s(j, "server"));
  line("endpoint:", s(j, "endpoint"));
  line("failover list:", s(j, "servers"));
  line("resolving:", s(j, "resolving"));
  line("last error:", s(j, "last_error"));
  line("session:", s(j, "session_id"));
  if (j.contains("session_uptime_s")) line("session uptime:", duration(u(j, "session_uptime_s")));
  if (j.contains("last_handshake_ago_s")) line("last handshake:", duration(u(j, "last_handshake_ago_s")) + " ago");
  line("cipher:", s(j, "cipher") + (j.contains("record_crypto") ? " (records: " + s(j, "record_crypto") + ")" : ""));
  if (j.contains("clock_skew_s")) line("clock skew:", std::to_string(j["clock_skew_s"].get<int64_t>()) + " s (server minus this host)");
  if (j.contains("rtt_ms")) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f ms", j["rtt_ms"].get<double>());
    line("rtt:", b);
  }
  line("addresses:", s(j, "addresses"));
  line("mtu:", s(j, "mtu"));
  line("included routes:", s(j, "included_routes"));
  line("excluded routes:", s(j, "excluded_routes"));
  line("dns servers:", s(j, "dns_servers"));
  line("search domains:", s(j, "search_domains"));
  line("match domains:", s(j, "match_domains"));
  if (j.contains("protect_routes")) line("protect routes:", j["protect_routes"].get<bool>() ? "on" : "off");
  if (j.contains("route_overrides") && j["route_overrides"].is_array()) {
    // TunnelVision: each host route that wins over the tunnel's, one line each.
    for (const auto& o : j["route_overrides"]) {
      std::string v = s(o, "route") + (o.contains("via") ? " via " + s(o, "via") : "") + " dev " + s(o, "dev") +
                      " beats " + s(o, "beats") +
                      (o.value("dropped_by_kill_switch", false) ? " (dropped by the kill switch)" : " (LEAKS)");
      line("route override:", v);
    }
  }
  if (j.contains("bytes_in"))
    line("transfer:", human_bytes(u(j, "bytes_in")) + " received (" + std::to_string(u(j, "packets_in")) +
                          " packets), " + human_bytes(u(j, "bytes_out")) + " sent (" +
                          std::to_string(u(j, "packets_out")) + " packets)");
  line("reconnects:", s(j, "reconnects"));
  line("roams:", s(j, "roams"));
  if (j.contains("rekeys"))
    line("rekeys:", s(j, "rekeys") + (u(j, "rekey_failures") ? " (" + s(j, "rekey_failures") + " failed)" : ""));
  if (j.contains("transport") && j.contains("tcp") && j["tcp"].is_object()) {
    const auto& t = j["tcp"];
    line("transport:", s(j, "transport") + " (" + s(t, "fallbacks") + " fallbacks to tls, " + s(t, "returns_to_dtls") +
                           " returns to dtls" + (u(t, "tcp_drops") ? ", " + s(t, "tcp_drops") + " dropped on a full tcp queue" : "") + ")");
  }
  line("path:", s(j, "path"));
  line("on-demand:", s(j, "on_demand"));
}

void print_sessions(const nlohmann::json& arr) {
  if (!arr.is_array() || arr.empty()) {
    std::printf("no sessions\n");
    return;
  }
  for (const auto& j : arr) {
    std::printf("peer: %s\n", s(j, "peer").c_str());
    line("session:", s(j, "id"));
    line("endpoint:", s(j, "endpoint"));
    line("addresses:", s(j, "ipv4") + " " + s(j, "ipv6"));
    line("routes behind:", s(j, "routes_behind"));
    line("uptime:", duration(u(j, "uptime_s")));
    if (j.contains("bytes_in"))
      line("transfer:", human_bytes(u(j, "bytes_in")) + " received, " + human_bytes(u(j, "bytes_out")) + " sent");
  }
}

}  // namespace ptun::cli
