// `ptun doctor -c CONFIG [--json]`: checks a running client from the outside (issue 16 item 3).
// This file gathers the facts - the client's status over its control socket, the kernel's route
// lookups for traffic that must use the tunnel (RTM_GETROUTE with protocol and port, unmarked),
// the nftables kill switch table, /etc/resolv.conf's resolvers, the certificate's expiry, DF
// pings through the TUN to the server's tunnel address - and netcfg/doctor.hpp judges them.
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

uint16_t icmp_checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += uint32_t(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

// One ICMP echo of `size` bytes (IPv4 header included) with DF, out of `ifname` to `dst`; true if
// its reply came back within kPingWaitMs. A raw socket (CAP_NET_RAW), as ping's.
Result<bool> df_ping(const std::string& ifname, const IpAddr& dst, uint32_t size, uint16_t seq) {
  int fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) return Error::from_errno("raw ICMP socket", errno);
  int pmtu = IP_PMTUDISC_PROBE;   // DF set, the route's cached PMTU ignored: the tunnel decides
  ::setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(), socklen_t(ifname.size())) < 0) {
    int e = errno;
    ::close(fd);
    return Error::from_errno("bind to " + ifname, e);
  }
  std::vector<uint8_t> pkt(size - 20, 0x5a);
  uint16_t id = uint16_t(::getpid());
  pkt[0] = ICMP_ECHO;
  pkt[1] = 0;
  pkt[2] = pkt[3] = 0;
  pkt[4] = uint8_t(id >> 8);
  pkt[5] = uint8_t(id);
  pkt[6] = uint8_t(seq >> 8);
  pkt[7] = uint8_t(seq);
  uint16_t ck = icmp_checksum(pkt.data(), pkt.size());
  pkt[2] = uint8_t(ck >> 8);
  pkt[3] = uint8_t(ck);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  std::memcpy(&to.sin_addr, dst.bytes.data(), 4);
  if (::sendto(fd, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
    ::close(fd);
    return false;   // EMSGSIZE: larger than the TUN itself takes
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kPingWaitMs);
  bool got = false;
  for (int i = 0; i < 256 && !got; ++i) {   // bounded: other ICMP on the host arrives here too
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, int(left.count())) <= 0) break;
    uint8_t buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 20) continue;
    size_t ihl = size_t(buf[0] & 0x0f) * 4;
    if (size_t(n) < ihl + 8 || std::memcmp(buf + 12, dst.bytes.data(), 4) != 0) continue;
    const uint8_t* icmp = buf + ihl;
    got = icmp[0] == ICMP_ECHOREPLY && icmp[4] == uint8_t(id >> 8) && icmp[5] == uint8_t(id) &&
          icmp[6] == uint8_t(seq >> 8) && icmp[7] == uint8_t(seq);
  }
  ::close(fd);
  return got;
}

void probe_mtu(const nlohmann::json& st, dr::Facts& f) {
  if (!st.contains("server_tunnel_ipv4")) {
    f.mtu_note = "not measured: the server pushed no IPv4 tunnel address to ping";
    return;
  }
  auto dst = IpAddr::parse(st["server_tunnel_ipv4"].get<std::string>());
  if (!dst || f.tun_mtu < kMinProbeMtu) {
    f.mtu_note = "not measured: no usable tunnel address or MTU";
    return;
  }
  uint16_t seq = 1;
  auto first = df_ping(f.tun_iface, *dst, f.tun_mtu, seq++);
  if (!first) {
    f.mtu_note = "not measured: " + first.error().message;
    return;
  }
  if (*first) {
    f.mtu_crossed = f.tun_mtu;
    return;
  }
  uint32_t lo = 0, hi = f.tun_mtu;   // lo crossed (0: none yet), hi did not
  uint32_t next = kMinProbeMtu;
  for (int i = 1; i < kMtuProbes && next < hi && next > lo; ++i) {
    auto r = df_ping(f.tun_iface, *dst, next, seq++);
    if (r && *r) lo = next;
    else hi = next;
    if (lo == 0) break;   // not even the minimum crosses
    next = lo + (hi - lo) / 2;
  }
  f.mtu_crossed = lo;
}

dr::Facts gather(const config::ClientConfig& cfg) {
  dr::Facts f;
  f.tun_iface = cfg.tunnel.interface;
  f.now = int64_t(::time(nullptr));
  f.kill_switch_wanted = cfg.protocol.include_all_networks;
  f.kill_switch_table = netcfg::instance_nft_table(cfg.tunnel.interface);
  if (auto r = netcfg::run_command({"nft", "list", "table", "inet", f.kill_switch_table}); r) {
    f.kill_switch_present = true;
  } else if (r.error().message.find("nft not found") != std::string::npos) {
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
  if (f.state == "connected") probe_mtu(*st, f);
  return f;
}

}  // namespace

void register_doctor_commands(CommandSet& cmds) {
  static std::string path;
  static bool json = false;
  auto* sub = cmds.add("doctor", "check a running client: leaks, routes that beat the tunnel's, DNS, kill switch, "
                                 "certificate, MTU (exit 1 on any finding)", [] {
    auto cfg = config::load_client(path, false);
    if (!cfg) return fail(cfg.error().message);
    auto checks = dr::evaluate(gather(*cfg));
    size_t n = dr::findings(checks);
    if (json) {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& c : checks)
        a.push_back({{"check", c.name}, {"result", dr::to_string(c.result)}, {"detail", c.detail}});
      std::cout << nlohmann::json{{"checks", a}, {"findings", n}}.dump(2) << "\n";
    } else {
      std::printf("ptun doctor: %s (%s)\n", cfg->tunnel.interface.c_str(), path.c_str());
      for (const auto& c : checks)
        std::printf("  %-8s %s: %s\n", c.result == dr::Outcome::fail ? "FAIL" : dr::to_string(c.result),
                    c.name.c_str(), c.detail.c_str());
      std::printf("%zu finding(s)\n", n);
    }
    return n ? 1 : 0;
  });
  sub->add_option("-c,--config", path, "the client's config file")->required();
  sub->add_flag("--json", json, "machine-readable output");
}

}  // namespace ptun::cli
