// to_toml: the effective configuration, in the same order as the example files, every default
// written out. Output parses back to an equal struct (tested). Key material is never printed:
// only the key's path, or a comment for an inline key_pem.
#include <cstdio>

#include "config/config.hpp"

namespace ptun::config {

namespace {

// A TOML basic string.
std::string quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  return out + "\"";
}

// For the header comment: a path with a newline in it must not end the comment.
std::string comment_safe(std::string s) {
  for (char& ch : s)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  return s;
}

class Writer {
 public:
  void line(std::string_view text) { (out_ += text) += '\n'; }
  void str(std::string_view key, std::string_view v) { kv(key, quote(v)); }
  void num(std::string_view key, uint64_t v) { kv(key, std::to_string(v)); }
  void boolean(std::string_view key, bool v) { kv(key, v ? "true" : "false"); }
  template <typename T, typename F>
  void list(std::string_view key, const std::vector<T>& items, F&& show) {
    std::string v = "[";
    for (size_t i = 0; i < items.size(); ++i) v += (i ? ", " : "") + quote(show(items[i]));
    kv(key, v + "]");
  }
  void strings(std::string_view key, const std::vector<std::string>& items) {
    list(key, items, [](const std::string& s) { return s; });
  }
  template <typename T>
  void addrs(std::string_view key, const std::vector<T>& items) {
    list(key, items, [](const T& a) { return a.str(); });
  }
  // PEM as a multi-line literal string (as in a profile); anything a literal cannot hold
  // (control characters other than newlines) falls back to a basic string.
  void pem(std::string_view key, std::string_view text) {
    bool literal = text.find("'''") == std::string_view::npos;
    for (unsigned char c : text) literal = literal && (c == '\n' || (c >= 0x20 && c < 0x7f));
    if (!literal) return str(key, text);
    kv(key, "'''\n" + std::string(text) + (text.ends_with('\n') ? "" : "\n") + "'''");
  }
  void kv(std::string_view key, std::string_view value) {
    ((out_ += key) += " = ") += value;
    out_ += '\n';
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

template <typename Config>
void shared_keys(Writer& w, const Config& c) {
  if constexpr (requires { c.key_pem; }) {
    if (c.ca_pem.empty()) w.str("ca", c.ca);
    else w.pem("ca_pem", c.ca_pem);
    if (c.cert_pem.empty()) w.str("cert", c.cert);
    else w.pem("cert_pem", c.cert_pem);
    if (c.key_pem.empty()) w.str("key", c.key);
    else w.line("# key_pem: inline in " + comment_safe(c.path) + " (not shown)");
  } else {
    w.str("ca", c.ca);
    w.str("cert", c.cert);
    w.str("key", c.key);
  }
  w.str("control_socket", c.control_socket);
  if (!c.control_group.empty()) w.str("control_group", c.control_group);
  w.str("state_dir", c.state_dir);
  w.str("log_level", c.log_level);
  if (!c.user.empty()) w.str("user", c.user);
  if (!c.group.empty()) w.str("group", c.group);
  w.strings("keep_capabilities", c.keep_capabilities);
  if (c.metrics_listen) w.str("metrics_listen", c.metrics_listen->str());
}

}  // namespace

std::string to_toml(const ServerConfig& c) {
  Writer w;
  w.line("# ptun server: effective configuration of " + comment_safe(c.path) + " (defaults filled in)");
  w.addrs("listen", c.listen);
  w.addrs("listen_tcp", c.listen_tcp);
  w.num("tcp_max_connections", c.tcp_max_connections);
  w.num("tcp_max_connections_per_source", c.tcp_max_connections_per_source);
  shared_keys(w, c);
  if (!c.crl.empty()) w.str("crl", c.crl);
  w.num("max_sessions", c.max_sessions);
  w.num("max_half_open", c.max_half_open);
  w.num("max_half_open_per_source", c.max_half_open_per_source);
  w.num("handshake_timeout_secs", c.handshake_timeout_secs);
  w.num("handshake_rate_per_source", c.handshake_rate_per_source);
  w.line("\n[tunnel]");
  w.str("interface", c.tunnel.interface);
  w.num("mtu", c.tunnel.mtu);
  if (c.tunnel.ipv4_pool) w.str("ipv4_pool", c.tunnel.ipv4_pool->str());
  if (c.tunnel.ipv6_pool) w.str("ipv6_pool", c.tunnel.ipv6_pool->str());
  w.boolean("masquerade", c.tunnel.masquerade);
  w.boolean("client_to_client", c.tunnel.client_to_client);
  w.boolean("tx_thread", c.tunnel.tx_thread);
  w.strings("masquerade_interfaces", c.tunnel.masquerade_interfaces);
  w.str("forwarding", c.tunnel.forwarding);
  w.num("userspace_max_flows_per_client", c.tunnel.userspace_max_flows_per_client);
  w.num("userspace_tcp_idle_secs", c.tunnel.userspace_tcp_idle_secs);
  w.num("userspace_udp_idle_secs", c.tunnel.userspace_udp_idle_secs);
  w.num("userspace_tcp_zero_window_secs", c.tunnel.userspace_tcp_zero_window_secs);
  w.num("userspace_client_buffer_kib", c.tunnel.userspace_client_buffer_kib);
  w.addrs("userspace_deny", c.tunnel.userspace_deny);
  w.num("lease_expiry_days", c.tunnel.lease_expiry_days);
  w.str("dns_proxy", c.tunnel.dns_proxy);
  w.addrs("dns_proxy_upstreams", c.tunnel.dns_proxy_upstreams);
  w.str("dns_proxy_resolv_conf", c.tunnel.dns_proxy_resolv_conf);
  w.line("\n[push]");
  w.addrs("included_routes", c.push.included_routes);
  w.addrs("excluded_routes", c.push.excluded_routes);
  w.addrs("dns_servers", c.push.dns_servers);
  w.strings("search_domains", c.push.search_domains);
  w.strings("match_domains", c.push.match_domains);
  w.num("keepalive_secs", c.push.keepalive_secs);
  w.num("dead_peer_secs", c.push.dead_peer_secs);
  w.boolean("protect_routes", c.push.protect_routes);
  for (const auto& p : c.peers) {
    w.line("\n[[peer]]");
    w.str("name", p.name);
    if (p.ipv4) w.str("ipv4", p.ipv4->str());
    if (p.ipv6) w.str("ipv6", p.ipv6->str());
    w.addrs("routes_behind", p.routes_behind);
    if (p.fingerprint) w.str("fingerprint", fingerprint_str(*p.fingerprint));
  }
  if (c.cluster) {
    w.line("\n[cluster]");
    w.strings("endpoints", c.cluster->endpoints);
    w.str("name", c.cluster->name);
    w.str("prefix", c.cluster->prefix);
    w.num("grace_secs", c.cluster->grace_secs);
    w.num("timeout_ms", c.cluster->timeout_ms);
    w.num("session_ttl_secs", c.cluster->session_ttl_secs);
    w.num("poll_ms", c.cluster->poll_ms);
    std::vector<std::string> bb;
    for (const auto& a : {c.cluster->backbone_v4, c.cluster->backbone_v6})
      if (a) bb.push_back(a->str());
    if (!bb.empty()) w.strings("backbone", bb);
    if (!c.cluster->ca.empty()) w.str("ca", c.cluster->ca);
    if (!c.cluster->cert.empty()) w.str("cert", c.cluster->cert);
    if (!c.cluster->key.empty()) w.str("key", c.cluster->key);
  }
  return w.take();
}

std::string to_toml(const ClientConfig& c) {
  Writer w;
  w.line("# ptun client: effective configuration of " + comment_safe(c.path) + " (defaults filled in)");
  if (c.servers.size() == 1) {
    w.str("server", c.servers[0].str());
  } else {
    w.addrs("server", c.servers);   // the failover list, in order
  }
  w.str("server_name", c.server_name);
  shared_keys(w, c);
  w.str("mode", c.mode);
  w.num("reconnect_max_secs", c.reconnect_max_secs);
  w.num("rekey_after_secs", c.rekey_after_secs);
  w.num("rekey_after_mib", c.rekey_after_mib);
  w.num("tcp_port", c.tcp_port);
  w.num("tcp_fallback_secs", c.tcp_fallback_secs);
  w.num("udp_probe_secs", c.udp_probe_secs);
  w.line("\n[tunnel]");
  w.str("interface", c.tunnel.interface);
  w.num("mtu", c.tunnel.mtu);
  char mark[16];
  std::snprintf(mark, sizeof mark, "0x%x", unsigned(c.tunnel.fwmark));
  w.kv("fwmark", mark);
  w.num("table", c.tunnel.table);
  w.boolean("tx_thread", c.tunnel.tx_thread);
  w.line("\n[routes]");
  w.addrs("include", c.routes.include);
  w.addrs("exclude", c.routes.exclude);
  w.line("\n[dns]");
  w.addrs("servers", c.dns.servers);
  w.strings("search_domains", c.dns.search_domains);
  w.strings("match_domains", c.dns.match_domains);
  w.str("backend", c.dns.backend);
  w.str("dnsmasq_conf_dir", c.dns.dnsmasq_conf_dir);
  w.strings("dnsmasq_restart", c.dns.dnsmasq_restart);
  w.line("\n[protocol]");
  w.boolean("include_all_networks", c.protocol.include_all_networks);
  w.boolean("exclude_local_networks", c.protocol.exclude_local_networks);
  w.boolean("enforce_routes", c.protocol.enforce_routes);
  w.boolean("always_on", c.protocol.always_on);
  if (c.protocol.protect_routes) w.boolean("protect_routes", *c.protocol.protect_routes);
  for (const auto& r : c.on_demand) {
    w.line("\n[[on_demand]]");
    w.str("action", ondemand::to_string(r.action));
    if (r.interface_type) w.str("interface_type", ondemand::to_string(*r.interface_type));
    if (!r.interface_names.empty()) w.strings("interface_name", r.interface_names);
    if (!r.dns_search_domains.empty()) w.strings("dns_search_domains", r.dns_search_domains);
    if (!r.dns_servers.empty()) w.addrs("dns_servers", r.dns_servers);
    if (!r.probe_url.empty()) w.str("probe_url", r.probe_url);
    if (!r.required_url.empty()) w.str("required_url", r.required_url);
  }
  w.line("\n[flows]");
  w.boolean("classify", c.flows.classify);
  w.num("max_flows", c.flows.max_flows);
  for (const auto& a : c.app_rules) {
    w.line("\n[[app_rule]]");
    w.str("name", a.name);
    w.str("mode", a.mode);
    if (a.uid) w.num("uid", *a.uid);
    if (!a.cgroup.empty()) w.str("cgroup", a.cgroup);
    if (!a.path.empty()) w.str("path", a.path);
  }
  w.line("\n[proxy]");
  w.list("socks5", c.proxy.socks5, [](const Endpoint& e) { return e.str(); });
  w.list("http", c.proxy.http, [](const Endpoint& e) { return e.str(); });
  if (!c.proxy.username.empty()) w.str("username", c.proxy.username);
  if (!c.proxy.password.empty()) w.str("password", "<not shown>");   // check-config output gets pasted around
  w.num("max_connections", c.proxy.max_connections);
  w.num("handshake_timeout_secs", c.proxy.handshake_timeout_secs);
  for (const auto& f : c.forwards) {
    w.line("\n[[forward]]");
    w.str("listen", f.listen.str());
    w.str("to", f.to.str());
    w.str("proto", f.proto);
  }
  return w.take();
}

std::string profile_toml(const Profile& p, std::string_view comment) {
  Writer w;
  w.line("# " + comment_safe(std::string(comment)));
  w.line("# One-file ptun client profile: keep it private (mode 0600, like a key file).");
  w.line("# Run: ptun client -c THIS_FILE; other keys (control_socket, [dns], ...) may be added.");
  w.str("server", p.server);
  w.str("server_name", p.server_name);
  w.pem("ca_pem", p.ca_pem);
  w.pem("cert_pem", p.cert_pem);
  w.pem("key_pem", p.key_pem);
  return w.take();
}

}  // namespace ptun::config
