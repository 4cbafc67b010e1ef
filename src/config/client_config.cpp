// The client's file: top-level keys, [tunnel], [routes], [dns] and [protocol].
#include <algorithm>

#include "config/readers.hpp"

namespace ptun::config {

namespace {

void read_tunnel(TableReader& t, ClientConfig::Tunnel& tun) {
  t.string("interface", [&](const std::string& s) {
    tun.interface = s;
    return check_interface_name(s);
  });
  constexpr std::string_view kMtuRange = "0 (take the server's) or 1280..1500";
  if (t.u32("mtu", tun.mtu, 0, 1500, kMtuRange) && tun.mtu != 0 && tun.mtu < 1280)
    t.fail_at("mtu", std::to_string(tun.mtu) + " is out of range " + std::string(kMtuRange));
  t.u32("fwmark", tun.fwmark, 1, 0xffffffffu);
  // 253..255 are the kernel's default, main and local tables: routes put there would leak.
  constexpr std::string_view kTableRange = "1..4294967294 except 253, 254, 255";
  if (t.u32("table", tun.table, 1, 0xfffffffeu, kTableRange) && tun.table >= 253 &&
      tun.table <= 255)
    t.fail_at("table", std::to_string(tun.table) + " is a reserved routing table (" +
                           std::string(kTableRange) + ")");
  t.boolean("tx_thread", tun.tx_thread);
  t.finish();
}

void read_routes(TableReader& t, ClientConfig::Routes& routes) {
  t.string_array("include", bounds::kMaxRoutes,
                 [&](const std::string& s) { return add_cidr(routes.include, s); });
  t.string_array("exclude", bounds::kMaxRoutes, [&](const std::string& s) {
    std::string why = add_cidr(routes.exclude, s);
    for (const auto& inc : routes.include)
      if (why.empty() && inc == routes.exclude.back())
        why = "'" + inc.str() + "' is also in routes.include";
    return why;
  });
  t.finish();
}

void read_dns(TableReader& t, ClientConfig::Dns& dns) {
  t.string_array("servers", bounds::kMaxDnsServers,
                 [&](const std::string& s) { return add_ip(dns.servers, s); });
  t.string_array("search_domains", bounds::kMaxDomains,
                 [&](const std::string& s) { return add_domain(dns.search_domains, s); });
  t.string_array("match_domains", bounds::kMaxDomains,
                 [&](const std::string& s) { return add_match_domain(dns.match_domains, s); });
  t.string("backend", [&](const std::string& s) {
    dns.backend = s;
    return s == "auto" || s == "dnsmasq" ? "" : "'" + s + "' is not a DNS back end (auto|dnsmasq)";
  });
  // Both end up in a root-run command line and a journaled path: absolute, printable, no spaces
  // in the directory (dnsmasq's conf-dir option would split it).
  auto plain = [](const std::string& s) {
    for (unsigned char c : s)
      if (c < 0x20 || c == 0x7f) return false;
    return !s.empty() && s.size() <= bounds::kMaxPath;
  };
  t.string("dnsmasq_conf_dir", [&](const std::string& s) {
    dns.dnsmasq_conf_dir = s;
    if (!plain(s) || s[0] != '/' || s.find_first_of(" ,") != std::string::npos)
      return std::string("'") + s + "' is not an absolute directory path without spaces or commas";
    return std::string();
  });
  std::vector<std::string> argv;
  if (t.string_array("dnsmasq_restart", 16, [&](const std::string& s) {
        if (!plain(s)) return std::string("empty or contains control characters");
        argv.push_back(s);
        return std::string();
      }) &&
      t.get("dnsmasq_restart")) {
    if (argv.empty())
      t.fail_at("dnsmasq_restart", "a command is needed (dnsmasq rereads its conf-dir only when restarted)");
    dns.dnsmasq_restart = std::move(argv);
  }
  t.finish();
}

void read_protocol(TableReader& t, ClientConfig::Protocol& p) {
  t.boolean("include_all_networks", p.include_all_networks);
  t.boolean("exclude_local_networks", p.exclude_local_networks);
  t.boolean("enforce_routes", p.enforce_routes);
  t.boolean("always_on", p.always_on);
  if (t.get("protect_routes")) {
    bool on = false;
    t.boolean("protect_routes", on);
    p.protect_routes = on;
  }
  t.finish();
}

}  // namespace

Result<ClientConfig> read_client(const toml::table& root, const std::string& name,
                                 const std::string& base_dir, bool check_files) {
  ReadContext ctx(name);
  TableReader r(ctx, root, "", {1, 1});
  ClientConfig c;
  c.path = name;
  // `server` is one address or a list (failover order): both read into c.servers.
  auto add_server = [&](const std::string& s) {
    ServerAddress a;
    std::string why = parse_server_address(s, &a.host, &a.port);
    if (why.empty() && std::find(c.servers.begin(), c.servers.end(), a) != c.servers.end())
      why = "'" + a.str() + "' is listed twice";
    if (why.empty()) c.servers.push_back(std::move(a));
    return why;
  };
  if (const toml::node* n = r.get("server"); n && n->is_array()) {
    if (r.string_array("server", bounds::kMaxServers, add_server) && c.servers.empty())
      r.fail_at("server", "an empty list: at least one server is needed");
  } else {
    r.string("server", add_server, true);
  }
  r.string(
      "server_name",
      [&](const std::string& s) {
        c.server_name = s;
        return check_host(s);
      },
      true);
  read_shared_keys(r, c, base_dir, check_files);
  r.string("mode", [&](const std::string& s) {
    c.mode = s;
    return s == "tun" || s == "userspace" ? "" : "'" + s + "' is not a mode (tun|userspace)";
  });
  r.u32("reconnect_max_secs", c.reconnect_max_secs, 1, 3600);
  if (r.u32("rekey_after_secs", c.rekey_after_secs, 0, 604800) && c.rekey_after_secs == 1)
    r.fail_at("rekey_after_secs", "rekey_after_secs: 1 is too short (0 = off, or 2..604800)");
  r.u32("rekey_after_mib", c.rekey_after_mib, 0, 1u << 30);
  uint32_t tcp_port = c.tcp_port;
  if (r.u32("tcp_port", tcp_port, 0, 65535)) c.tcp_port = uint16_t(tcp_port);
  r.u32("tcp_fallback_secs", c.tcp_fallback_secs, 1, 300);
  r.u32("udp_probe_secs", c.udp_probe_secs, 1, 3600);
  if (auto t = r.table("tunnel")) read_tunnel(*t, c.tunnel);
  if (auto t = r.table("routes")) read_routes(*t, c.routes);
  if (auto t = r.table("dns")) read_dns(*t, c.dns);
  if (auto t = r.table("protocol")) read_protocol(*t, c.protocol);
  r.table_array("on_demand", bounds::kMaxOnDemandRules, [&](TableReader& t) {
    c.on_demand.emplace_back();
    read_on_demand_rule(t, c.on_demand.back());
  });
  read_app_rules(r, c);
  read_userspace_keys(r, c);
  r.finish();
  if (ctx.failed()) return ctx.error();
  return c;
}

}  // namespace ptun::config
