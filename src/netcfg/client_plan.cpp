#include "netcfg/client_plan.hpp"

#include <algorithm>

#include "netcfg/firewall.hpp"

namespace ptun::netcfg {
namespace {

Cidr host_prefix(const IpAddr& a) { return Cidr{a, uint8_t(a.is_v4() ? 32 : 128)}; }

}  // namespace

std::vector<Cidr> connected_networks(const std::vector<netlink::AddrInfo>& addrs, int tun_ifindex) {
  std::vector<Cidr> out;
  for (const auto& a : addrs) {
    if (a.ifindex == tun_ifindex || a.scope == RT_SCOPE_HOST) continue;
    Cidr n = a.addr.network();
    if (n.prefix == 0) continue;
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

RouteInputs route_inputs(const proto::NetworkSettings& s, const HostValues& v, const HostFacts& f) {
  RouteInputs in;
  in.included = s.included_routes;
  in.included.insert(in.included.end(), v.routes.include.begin(), v.routes.include.end());
  in.excluded = s.excluded_routes;
  in.excluded.insert(in.excluded.end(), v.routes.exclude.begin(), v.routes.exclude.end());
  in.tunnel_v4 = s.ipv4.has_value();
  in.tunnel_v6 = s.ipv6.has_value();
  // The tunnel's DNS servers are reached through the tunnel: a host route when no included route
  // covers them (split include), so no query to them leaves outside.
  std::vector<IpAddr> servers = s.dns_servers;
  servers.insert(servers.end(), v.dns.servers.begin(), v.dns.servers.end());
  for (const auto& d : servers) {
    bool carried = d.is_v4() ? in.tunnel_v4 : in.tunnel_v6;
    bool covered = v.protocol.include_all_networks;
    for (const auto& i : in.included) covered = covered || covers(i, host_prefix(d));
    if (carried && !covered) in.included.push_back(host_prefix(d));
  }
  in.local_networks = f.connected;
  in.server = f.server.addr;
  in.tun_ifindex = f.tun_ifindex;
  in.table = v.table;
  in.fwmark = v.fwmark;
  in.include_all_networks = v.protocol.include_all_networks;
  in.exclude_local_networks = v.protocol.exclude_local_networks;
  in.protect_routes = v.protocol.protect_routes.value_or(s.protect_routes);
  return in;
}

DnsInputs dns_inputs(const proto::NetworkSettings& s, const HostValues& v) {
  DnsInputs d;
  d.servers = s.dns_servers;
  d.servers.insert(d.servers.end(), v.dns.servers.begin(), v.dns.servers.end());
  d.search_domains = s.search_domains;
  d.search_domains.insert(d.search_domains.end(), v.dns.search_domains.begin(), v.dns.search_domains.end());
  d.match_domains = s.match_domains;
  d.match_domains.insert(d.match_domains.end(), v.dns.match_domains.begin(), v.dns.match_domains.end());
  return d;
}

Result<HostPlan> plan_host(const proto::NetworkSettings& s, const HostValues& v, const HostFacts& f) {
  HostPlan plan;
  if (!s.ipv4 && !s.ipv6) return Error(Errc::invalid_argument, "the server assigned no tunnel address");
  auto in = route_inputs(s, v, f);
  auto routes = plan_routes(in, f.paths);
  if (!routes) return routes.error();
  plan.routes = std::move(*routes);
  auto dns = plan_dns(dns_inputs(s, v));
  if (!dns) return dns.error();
  plan.dns = std::move(*dns);
  if (v.protocol.enforce_routes && !v.protocol.include_all_networks) {
    EnforceSpec e;
    e.table = instance_nft_table(v.interface);
    e.tun_iface = v.interface;
    e.fwmark = v.fwmark;
    // protect_routes puts routes in both tables: each prefix once in the sets.
    auto add = [](std::vector<Cidr>& set, const Cidr& c) {
      if (std::find(set.begin(), set.end(), c) == set.end()) set.push_back(c);
    };
    for (const auto& r : plan.routes.routes) {
      // (protect_routes' throws for connected networks are not exclusions: e.connected has them)
      bool connected = std::find(f.connected.begin(), f.connected.end(), r.dst) != f.connected.end();
      if (r.type == RTN_THROW && !connected) add(e.excluded, r.dst);
      else if (r.type == RTN_UNICAST && r.ifindex == f.tun_ifindex) add(e.included, r.dst);
    }
    e.connected = f.connected;
    auto script = enforce_script(e);
    if (!script) return script.error();
    plan.enforce_nft = std::move(*script);
  }
  return plan;
}

}  // namespace ptun::netcfg
