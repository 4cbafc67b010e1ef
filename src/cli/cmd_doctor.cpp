// `ptun doctor -c CONFIG [--json]`: checks a running client from the outside (issue 16 item 3).
// This file gathers the facts - the client's status over its control socket, the kernel's route
// lookups for traffic that must use the tunnel (RTM_GETROUTE with protocol and port, unmarked),
// the nftables kill switch table, /etc/resolv.conf's resolvers (and a real query to each), the
// certificate's expiry, the clock skew the server's SETTINGS showed, DF pings over IPv4 and IPv6
// through the TUN to the server's tunnel addresses - and netcfg/doctor.hpp judges them.
// Exit 0 clean, 1 on any finding.
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/command.hpp"
#include "cli/doctor_probes.hpp"
#include "hostio/process.hpp"
#include "config/config.hpp"
#include "control/control_client.hpp"
#include "netcfg/dns_plan.hpp"
#include "netcfg/doctor.hpp"
#include "netcfg/firewall.hpp"
#include "netcfg/host_ops.hpp"
#include "netlink/rtnl.hpp"
#include "tls/pki.hpp"

namespace ptun::cli {
namespace {

namespace dr = netcfg::doctor;

constexpr size_t kMaxProbedPrefixes = 16;   // lookups stay bounded whatever the push holds
constexpr uint32_t kMinProbeMtu = 576;
constexpr int kMtuProbes = 9;               // one at the TUN's MTU, then a bisection
constexpr int kPingWaitMs = 1000;
constexpr int kDnsWaitMs = 2000;

dr::Lookup lookup(netlink::Rtnl& nl, const std::string& what, const IpAddr& dst, uint8_t proto, uint16_t port) {
  dr::Lookup l;
  l.what = what;
  l.dst = dst;
  auto r = nl.route_get(dst, 0, proto, port);
  if (!r) return l;   // no route (or unreachable: the kernel answers with an error): not a leak
  l.found = true;
  l.unicast = r->type == RTN_UNICAST;
  l.ifindex = r->ifindex;
  if (auto k = nl.link_get(r->ifindex)) l.ifname = k->name;
  return l;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str().substr(0, 1 << 16);
}

// The largest ping that crosses the tunnel to the server's tunnel address `key` of the status
// (server_tunnel_ipv4/6): one at the TUN's MTU, then a bisection down to kMinProbeMtu.
void probe_mtu(const nlohmann::json& st, const dr::Facts& f, const char* key, std::optional<uint32_t>* crossed,
               std::string* note) {
  bool v6 = std::string(key).back() == '6';
  if (!st.contains(key)) {
    *note = std::string("not measured: the server pushed no IPv") + (v6 ? "6" : "4") + " tunnel address to ping";
    return;
  }
  auto dst = IpAddr::parse(st[key].get<std::string>());
  uint32_t floor = v6 ? 1280 : kMinProbeMtu;   // IPv6's minimum link MTU
  if (!dst || f.tun_mtu < floor) {
    *note = "not measured: no usable tunnel address or MTU";
    return;
  }
  uint16_t seq = v6 ? 100 : 1;
  auto first = df_ping(f.tun_iface, *dst, f.tun_mtu, seq++, kPingWaitMs);
  if (!first) {
    *note = "not measured: " + first.error().message;
    return;
  }
  if (*first) {
    *crossed = f.tun_mtu;
    return;
  }
  uint32_t lo = 0, hi = f.tun_mtu;   // lo crossed (0: none yet), hi did not
  uint32_t next = floor;
  for (int i = 1; i < kMtuProbes && next < hi && next > lo; ++i) {
    auto r = df_ping(f.tun_iface, *dst, next, seq++, kPingWaitMs);
    if (r && *r) lo = next;
    else hi = next;
    if (lo == 0) break;   // not even the minimum crosses
    next = lo + (hi - lo) / 2;
  }
  *crossed = lo;
}

dr::Facts gather(const config::ClientConfig& cfg) {
  dr::Facts f;
  f.tun_iface = cfg.tunnel.interface;
  f.now = int64_t(::time(nullptr));
  f.kill_switch_wanted = cfg.protocol.include_all_networks;
  f.kill_switch_table = netcfg::instance_nft_table(cfg.tunnel.interface);
  if (auto r = hostio::run({"nft", "list", "table", "inet", f.kill_switch_table}); r) {
    f.kill_switch_present = true;
  } else if (r.error().code == Errc::not_found) {
    f.kill_switch_error = "nft is not installed";
  } else {
    f.kill_switch_present = false;
  }
  if (auto na = tls::pki::cert_not_after(cfg.cert, cfg.cert_pem)) f.cert_not_after = *na;
  else f.cert_error = na.error().message;

  auto st = control::call(cfg.control_socket, {{"cmd", "status"}});
  if (!st) return f;   // state "": not running
  f.state = st->value("state", "");
  auto nl = netlink::Rtnl::open();
  if (!nl) {
    f.mtu_note = "not measured: " + nl.error().message;
    return f;
  }
  auto idx = (*nl)->link_index(cfg.tunnel.interface);
  f.tun_ifindex = idx ? *idx : -1;
  if (st->contains("mtu") && (*st)["mtu"].is_number_unsigned()) f.tun_mtu = (*st)["mtu"].get<uint32_t>();
  for (const auto& d : st->value("dns_servers", nlohmann::json::array()))
    if (auto a = IpAddr::parse(d.get<std::string>())) f.pushed_dns.push_back(*a);
  for (const auto& o : st->value("route_overrides", nlohmann::json::array())) {
    if (o.value("dropped_by_kill_switch", false)) {
      ++f.overrides_dropped;
      continue;
    }
    std::string d = o.value("route", "") + (o.contains("via") ? " via " + o.value("via", "") : "") + " dev " +
                    o.value("dev", "") + " beats " + o.value("beats", "");
    f.overrides.push_back(d);
  }
  // Destinations that must use the tunnel: a host in each included prefix (not the prefix that
  // holds ptun's own route to the server), each override's prefix, the pushed DNS servers.
  auto endpoint = Endpoint::parse(st->value("endpoint", ""));
  std::vector<Cidr> prefixes;
  auto add = [&](const std::string& s) {
    auto c = Cidr::parse(s);
    if (!c || prefixes.size() >= kMaxProbedPrefixes) return;
    if (c->prefix == (c->addr.is_v4() ? 32 : 128) && endpoint && c->addr == endpoint->addr) return;
    for (const auto& p : prefixes)
      if (p == *c) return;
    prefixes.push_back(*c);
  };
  for (const auto& r : st->value("included_routes", nlohmann::json::array())) {
    auto c = Cidr::parse(r.get<std::string>());
    if (c && c->prefix == 0) f.full_tunnel = true;
    add(r.get<std::string>());
  }
  for (const auto& o : st->value("route_overrides", nlohmann::json::array())) add(o.value("route", ""));
  for (const auto& c : prefixes) {
    IpAddr a = dr::probe_address(c);
    f.probes.push_back(lookup(**nl, "udp " + a.str() + ":443", a, IPPROTO_UDP, 443));
    f.probes.push_back(lookup(**nl, "tcp " + a.str() + ":443", a, IPPROTO_TCP, 443));
  }
  for (const auto& d : f.pushed_dns) {
    f.probes.push_back(lookup(**nl, "dns " + d.str() + " (udp)", d, IPPROTO_UDP, 53));
    f.probes.push_back(lookup(**nl, "dns " + d.str() + " (tcp)", d, IPPROTO_TCP, 53));
  }
  for (const auto& r : netcfg::parse_nameservers(read_file("/etc/resolv.conf")))
    f.resolvers.push_back(lookup(**nl, "dns " + r.str(), r, IPPROTO_UDP, 53));
  // A real query to each resolver, for a name this client needs anyway: its server's.
  std::string qname = IpAddr::parse(cfg.servers[0].host) ? "example.com" : cfg.servers[0].host;
  for (const auto& r : f.resolvers) f.dns_answers.push_back(ask_dns(r.dst, qname, kDnsWaitMs));
  if (st->contains("clock_skew_s") && (*st)["clock_skew_s"].is_number_integer())
    f.clock_skew = (*st)["clock_skew_s"].get<int64_t>();
  if (f.state == "connected") {
    probe_mtu(*st, f, "server_tunnel_ipv4", &f.mtu_crossed, &f.mtu_note);
    probe_mtu(*st, f, "server_tunnel_ipv6", &f.mtu6_crossed, &f.mtu6_note);
  }
  return f;
}

int report(const std::vector<dr::Check>& checks, bool json, const std::string& title) {
  size_t n = dr::findings(checks);
  if (json) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& c : checks) a.push_back({{"check", c.name}, {"result", dr::to_string(c.result)}, {"detail", c.detail}});
    std::cout << nlohmann::json{{"checks", a}, {"findings", n}}.dump(2) << "\n";
  } else {
    std::printf("ptun doctor: %s\n", title.c_str());
    for (const auto& c : checks)
      std::printf("  %-8s %s: %s\n", c.result == dr::Outcome::fail ? "FAIL" : dr::to_string(c.result), c.name.c_str(),
                  c.detail.c_str());
    std::printf("%zu finding(s)\n", n);
  }
  return n ? 1 : 0;
}

}  // namespace

void register_doctor_commands(CommandSet& cmds) {
  static std::string path;
  static bool json = false;
  auto* sub = cmds.add("doctor", "check a running client (leaks, routes that beat the tunnel's, DNS, kill switch, "
                                 "certificate, clock, MTU) or server (forwarding, NAT, firewalls, certificate); "
                                 "exit 1 on any finding", [] {
    auto role = config::detect_role_file(path);
    if (!role) return fail(role.error().message);
    if (*role == config::Role::server) {
      auto cfg = config::load_server(path, false);
      if (!cfg) return fail(cfg.error().message);
      return report(dr::evaluate_server(gather_server(*cfg)), json, "server " + cfg->tunnel.interface + " (" + path + ")");
    }
    auto cfg = config::load_client(path, false);
    if (!cfg) return fail(cfg.error().message);
    return report(dr::evaluate(gather(*cfg)), json, cfg->tunnel.interface + " (" + path + ")");
  });
  sub->add_option("-c,--config", path, "the client's or the server's config file")->required();
  sub->add_flag("--json", json, "machine-readable output");
}

}  // namespace ptun::cli
