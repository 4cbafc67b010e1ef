// The server's file: top-level keys, [tunnel], [push] and [[peer]].
#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "config/readers.hpp"

namespace ptun::config {

IpAddr server_address(const Cidr& pool) {
  IpAddr a = pool.network().addr;
  // +1 on the last byte with carry (a pool is at most /30 or /126, so the host part is >= 2 bits
  // and the first host never carries out of it).
  for (size_t i = a.size(); i-- > 0;)
    if (++a.bytes[i] != 0) break;
  return a;
}

std::vector<IpAddr> server_addresses(const ServerConfig& c) {
  std::vector<IpAddr> out;
  for (const auto& pool : {c.tunnel.ipv4_pool, c.tunnel.ipv6_pool})
    if (pool) out.push_back(server_address(*pool));
  return out;
}

bool dns_proxy_active(const ServerConfig& c) {
  if (c.tunnel.dns_proxy != "auto") return c.tunnel.dns_proxy == "on";
  if (c.tunnel.forwarding != "kernel") return false;
  for (const auto& own : server_addresses(c))
    for (const auto& d : c.push.dns_servers)
      if (d == own) return true;
  return false;
}

namespace {

std::string parse_pool(const std::string& s, Family family, unsigned max_prefix,
                       std::optional<Cidr>* out) {
  auto c = Cidr::parse(s);
  if (!c) return c.error().message;
  if (c->addr.family != family)
    return "'" + s + "' is not an " + (family == Family::v4 ? "IPv4" : "IPv6") + " prefix";
  if (c->prefix > max_prefix)
    return "/" + std::to_string(c->prefix) + " is too small for a pool: at most /" +
           std::to_string(max_prefix);
  *out = *c;
  return "";
}

void read_tunnel(TableReader& t, ServerConfig::Tunnel& tun) {
  t.string("interface", [&](const std::string& s) {
    tun.interface = s;
    return check_interface_name(s);
  });
  t.u32("mtu", tun.mtu, 1280, 1500);
  t.string("ipv4_pool", [&](const std::string& s) {
    return parse_pool(s, Family::v4, 30, &tun.ipv4_pool);
  });
  t.string("ipv6_pool", [&](const std::string& s) {
    return parse_pool(s, Family::v6, 126, &tun.ipv6_pool);
  });
  t.boolean("masquerade", tun.masquerade);
  t.boolean("client_to_client", tun.client_to_client);
  t.boolean("tx_thread", tun.tx_thread);
  t.string_array("masquerade_interfaces", bounds::kMaxInterfaces, [&](const std::string& s) {
    if (s == tun.interface) return "'" + s + "' is the tunnel interface itself";
    return add_interface(tun.masquerade_interfaces, s);
  });
  t.string("forwarding", [&](const std::string& s) {
    tun.forwarding = s;
    return s == "kernel" || s == "userspace" ? "" : "'" + s + "' is not a forwarding mode (kernel|userspace)";
  });
  t.u32("userspace_max_flows_per_client", tun.userspace_max_flows_per_client, 1, 65535);
  t.u32("userspace_tcp_idle_secs", tun.userspace_tcp_idle_secs, 10, 604800);
  t.u32("userspace_udp_idle_secs", tun.userspace_udp_idle_secs, 5, 3600);
  t.u32("userspace_tcp_zero_window_secs", tun.userspace_tcp_zero_window_secs, 5, 604800);
  t.u32("userspace_client_buffer_kib", tun.userspace_client_buffer_kib, 256, 4194304);
  if (t.get("userspace_deny")) tun.userspace_deny.clear();  // the key replaces the defaults
  t.string_array("userspace_deny", bounds::kMaxRoutes,
                 [&](const std::string& s) { return add_cidr(tun.userspace_deny, s); });
  t.u32("lease_expiry_days", tun.lease_expiry_days, 0, 3650);
  t.string("dns_proxy", [&](const std::string& s) {
    tun.dns_proxy = s;
    return s == "auto" || s == "on" || s == "off" ? "" : "'" + s + "' is not a dns_proxy mode (auto|on|off)";
  });
  t.string_array("dns_proxy_upstreams", bounds::kMaxDnsServers, [&](const std::string& s) {
    std::string why = add_ip(tun.dns_proxy_upstreams, s);
    for (const auto& pool : {tun.ipv4_pool, tun.ipv6_pool})
      if (why.empty() && pool && tun.dns_proxy_upstreams.back() == server_address(*pool))
        why = s + " is the server's own tunnel address (the proxy itself)";
    return why;
  });
  t.string("dns_proxy_resolv_conf", [&](const std::string& s) {
    tun.dns_proxy_resolv_conf = s;
    return !s.empty() && s[0] == '/' && s.size() <= bounds::kMaxPath ? "" : "'" + s + "' is not an absolute path";
  });
  if (!t.finish()) return;
  if (tun.forwarding == "userspace" && tun.dns_proxy == "on")
    t.fail_at("dns_proxy", "needs forwarding = \"kernel\" (it listens on the tunnel device's addresses)");
  if (tun.forwarding == "userspace" && tun.masquerade)
    t.fail_at("masquerade", "does not apply with forwarding = \"userspace\" (flows leave from the server's own sockets)");
  if (!tun.ipv4_pool && !tun.ipv6_pool)
    t.fail_here("at least one of ipv4_pool and ipv6_pool is required");
  else if (!tun.masquerade_interfaces.empty() && !tun.masquerade)
    t.fail_at("masquerade_interfaces", "has no effect unless masquerade = true");
}

void read_push(TableReader& t, PushSettings& p) {
  t.string_array("included_routes", bounds::kMaxRoutes,
                 [&](const std::string& s) { return add_cidr(p.included_routes, s); });
  t.string_array("excluded_routes", bounds::kMaxRoutes, [&](const std::string& s) {
    std::string why = add_cidr(p.excluded_routes, s);
    for (const auto& inc : p.included_routes)
      if (why.empty() && inc == p.excluded_routes.back())
        why = "'" + inc.str() + "' is also in included_routes";
    return why;
  });
  t.string_array("dns_servers", bounds::kMaxDnsServers,
                 [&](const std::string& s) { return add_ip(p.dns_servers, s); });
  t.string_array("search_domains", bounds::kMaxDomains,
                 [&](const std::string& s) { return add_domain(p.search_domains, s); });
  t.string_array("match_domains", bounds::kMaxDomains,
                 [&](const std::string& s) { return add_match_domain(p.match_domains, s); });
  t.u32("keepalive_secs", p.keepalive_secs, 1, 600);
  t.u32("dead_peer_secs", p.dead_peer_secs, 2, 3600);
  t.boolean("protect_routes", p.protect_routes);
  if (!t.finish()) return;
  if (p.dead_peer_secs <= p.keepalive_secs)
    t.fail_at("dead_peer_secs", std::to_string(p.dead_peer_secs) +
                                    " must be greater than keepalive_secs (" +
                                    std::to_string(p.keepalive_secs) + ")");
}

void read_cluster(TableReader& t, ServerConfig::Cluster& cl, const std::string& base_dir, bool check_files) {
#if !PTUN_CLUSTER_BUILT
  (void)cl;
  (void)base_dir;
  (void)check_files;
  t.fail_here("this ptun was built without cluster support (cmake -DPTUN_CLUSTER=ON; off in static and cross builds)");
#else
  t.string_array("endpoints", 16, [&](const std::string& s) -> std::string {
    const bool tls = s.rfind("https://", 0) == 0;
    if (!tls && s.rfind("http://", 0) != 0) return "'" + s + "' is not an http:// or https:// URL";
    const std::string rest = s.substr(tls ? 8 : 7);
    if (rest.empty() || rest.find_first_of("/?#@ \t") != std::string::npos)
      return "'" + s + "': give scheme://host:port only (no path, user or spaces)";
    for (const auto& e : cl.endpoints)
      if (e == s) return "duplicate endpoint '" + s + "'";
    cl.endpoints.push_back(s);
    return "";
  });
  if (!t.failed() && !t.get("endpoints")) t.fail_here("endpoints is required (the etcd members' client URLs)");
  t.string("name", [&](const std::string& s) { cl.name = s; return check_peer_name(s); }, true);
  t.string("prefix", [&](const std::string& s) -> std::string {
    if (s.size() < 2 || s.size() > 128 || s[0] != '/' || s.back() == '/')
      return "'" + s + "' must start with '/', not end with '/', 2..128 characters";
    for (char ch : s)
      if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-' || ch == '/'))
        return "'" + s + "' may hold only letters, digits and . _ - /";
    cl.prefix = s;
    return "";
  });
  t.u32("grace_secs", cl.grace_secs, 10, 2592000);
  t.u32("timeout_ms", cl.timeout_ms, 100, 60000);
  t.u32("session_ttl_secs", cl.session_ttl_secs, 3, 300);
  t.u32("poll_ms", cl.poll_ms, 100, 60000);
  t.string_array("backbone", 2, [&](const std::string& s) -> std::string {
    auto a = IpAddr::parse(s);
    if (!a) return "'" + s + "' is not an IP address";
    auto& slot = a->is_v4() ? cl.backbone_v4 : cl.backbone_v6;
    if (slot) return "'" + s + "': one backbone address per family";
    slot = *a;
    return "";
  });
  for (auto [key, field] : {std::pair{"ca", &cl.ca}, std::pair{"cert", &cl.cert}, std::pair{"key", &cl.key}}) {
    std::string* out = field;   // clang 14 cannot capture a structured binding in a lambda
    t.string(key, [&](const std::string& s) {
      std::string why = resolve_path(base_dir, s, out);
      if (why.empty() && check_files) why = check_readable_file(*out);
      return why;
    });
  }
  if (!t.finish()) return;
  if (cl.cert.empty() != cl.key.empty()) t.fail_at(cl.cert.empty() ? "key" : "cert", "cert and key go together (a TLS client certificate)");
#endif
}

// Cross-peer state: names, static addresses and routes behind peers must not collide.
struct PeerIndex {
  std::set<std::string> names;
  std::map<IpAddr, std::string> addresses;  // static address -> peer name
  // routes_behind of earlier peers, disjoint, keyed by network address -> (prefix, peer).
  std::map<IpAddr, std::pair<Cidr, std::string>> routes;

  std::string claim_route(const Cidr& c, const std::string& peer) {
    // Disjoint prefixes sorted by start: only the neighbours on each side can overlap `c`.
    auto it = routes.lower_bound(c.addr);
    if (it != routes.end() && overlaps(it->second.first, c))
      return "overlaps " + it->second.first.str() + " behind peer '" + it->second.second + "'";
    if (it != routes.begin() && overlaps(std::prev(it)->second.first, c))
      return "overlaps " + std::prev(it)->second.first.str() + " behind peer '" +
             std::prev(it)->second.second + "'";
    routes.emplace(c.addr, std::make_pair(c, peer));
    return "";
  }
};

std::string check_static_address(const std::string& s, Family family,
                                 const std::optional<Cidr>& pool, PeerIndex& index,
                                 const std::string& peer, std::optional<IpAddr>* out) {
  auto a = IpAddr::parse(s);
  if (!a) return a.error().message;
  const char* fam = family == Family::v4 ? "IPv4" : "IPv6";
  if (a->family != family) return "'" + s + "' is not an " + fam + " address";
  if (!pool) return std::string("no tunnel.") + (family == Family::v4 ? "ipv4" : "ipv6") + "_pool to take it from";
  if (!pool->contains(*a)) return a->str() + " is outside the pool " + pool->str();
  if (*a == pool->addr) return a->str() + " is the pool's network address";
  if (*a == server_address(*pool)) return a->str() + " is the server's own address";
  if (family == Family::v4) {
    uint32_t host_mask = pool->prefix == 0 ? ~0u : (1u << (32 - pool->prefix)) - 1;
    if ((a->v4_host_order() & host_mask) == host_mask)
      return a->str() + " is the pool's broadcast address";
  }
  auto [it, fresh] = index.addresses.emplace(*a, peer);
  if (!fresh) return a->str() + " is already assigned to peer '" + it->second + "'";
  *out = *a;
  return "";
}

void read_peer(TableReader& t, const ServerConfig::Tunnel& tun, PeerIndex& index,
               PeerConfig& peer) {
  t.string(
      "name",
      [&](const std::string& s) {
        peer.name = s;
        std::string why = check_peer_name(s);
        if (why.empty() && !index.names.insert(s).second) why = "duplicate peer name '" + s + "'";
        return why;
      },
      true);
  t.string("ipv4", [&](const std::string& s) {
    return check_static_address(s, Family::v4, tun.ipv4_pool, index, peer.name, &peer.ipv4);
  });
  t.string("ipv6", [&](const std::string& s) {
    return check_static_address(s, Family::v6, tun.ipv6_pool, index, peer.name, &peer.ipv6);
  });
  t.string_array("routes_behind", bounds::kMaxRoutes, [&](const std::string& s) {
    std::string why = add_cidr(peer.routes_behind, s);
    if (!why.empty()) return why;
    const Cidr& c = peer.routes_behind.back();
    for (const auto& pool : {tun.ipv4_pool, tun.ipv6_pool})
      if (pool && overlaps(*pool, c)) return "overlaps the pool " + pool->str();
    return index.claim_route(c, peer.name);
  });
  t.string("fingerprint", [&](const std::string& s) {
    Fingerprint f{};
    std::string why = parse_fingerprint(s, &f);
    if (why.empty()) peer.fingerprint = f;
    return why;
  });
}

}  // namespace

std::vector<Cidr> default_userspace_deny() {
  // AWS IMDS over IPv6, Alibaba Cloud metadata, Azure WireServer (goal state, extensions).
  return {*Cidr::parse("fd00:ec2::254/128"), *Cidr::parse("100.100.100.200/32"), *Cidr::parse("168.63.129.16/32")};
}

Result<ServerConfig> read_server(const toml::table& root, const std::string& name,
                                 const std::string& base_dir, bool check_files) {
  ReadContext ctx(name);
  TableReader r(ctx, root, "", {1, 1});
  ServerConfig c;
  c.path = name;
  if (r.get("listen", true))
    r.string_array("listen", bounds::kMaxListen, [&](const std::string& s) {
      Endpoint ep;
      std::string why = parse_listen(s, &ep);
      return why.empty() ? append_unique(c.listen, ep, ep.str()) : why;
    });
  if (!r.failed() && c.listen.empty()) r.fail_at("listen", "at least one address is required");
  if (r.get("listen_tcp")) {
    r.string_array("listen_tcp", bounds::kMaxListen, [&](const std::string& s) {
      Endpoint ep;
      std::string why = parse_listen(s, &ep);
      return why.empty() ? append_unique(c.listen_tcp, ep, ep.str()) : why;
    });
  } else {
    for (Endpoint ep : c.listen) {   // the default: the same addresses on port 443
      ep.port = 443;
      if (std::find(c.listen_tcp.begin(), c.listen_tcp.end(), ep) == c.listen_tcp.end()) c.listen_tcp.push_back(ep);
    }
  }
  r.u32("tcp_max_connections", c.tcp_max_connections, 1, 100000);
  r.u32("tcp_max_connections_per_source", c.tcp_max_connections_per_source, 0, 100000);
  read_shared_keys(r, c, base_dir, check_files);
  r.string("crl", [&](const std::string& s) {
    std::string why = resolve_path(base_dir, s, &c.crl);
    if (why.empty() && check_files) why = check_readable_file(c.crl);
    return why;
  });
  r.u32("max_sessions", c.max_sessions, 1, 100000);
  r.u32("max_half_open", c.max_half_open, 1, 100000);
  r.u32("max_half_open_per_source", c.max_half_open_per_source, 0, 100000);
  r.u32("handshake_timeout_secs", c.handshake_timeout_secs, 1, 120);
  r.u32("handshake_rate_per_source", c.handshake_rate_per_source, 0, 100000);
  if (auto t = r.table("tunnel", true)) read_tunnel(*t, c.tunnel);
  if (auto t = r.table("push")) read_push(*t, c.push);
  PeerIndex index;
  r.table_array("peer", bounds::kMaxPeers, [&](TableReader& t) {
    c.peers.emplace_back();
    read_peer(t, c.tunnel, index, c.peers.back());
  });
  if (auto t = r.table("cluster")) {
    // Not emplace(): clang 14 decides too early (inside ServerConfig) that Cluster, with its
    // default member initializers, is not default-constructible.
    c.cluster = ServerConfig::Cluster{};
    read_cluster(*t, *c.cluster, base_dir, check_files);
  }
  r.finish();
  if (ctx.failed()) return ctx.error();
  return c;
}

}  // namespace ptun::config
