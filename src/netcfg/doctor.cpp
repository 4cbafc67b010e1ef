#include "netcfg/doctor.hpp"

#include "netcfg/dns_plan.hpp"

namespace ptun::netcfg::doctor {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& e : v) s += (s.empty() ? "" : "; ") + e;
  return s;
}

std::string where(const Lookup& l) {
  if (!l.found) return "no route";
  if (!l.unicast) return "unreachable";
  return "via " + (l.ifname.empty() ? "#" + std::to_string(l.ifindex) : l.ifname);
}

Check check_overrides(const Facts& f) {
  Check c{"route overrides", Outcome::ok, ""};
  if (!f.overrides.empty()) {
    c.result = Outcome::fail;
    c.detail = "routes outside the tunnel beat its routes (TunnelVision; set protect_routes): " + join(f.overrides);
  } else {
    c.detail = "no route outside the tunnel beats its routes";
  }
  if (f.overrides_dropped)
    c.detail += "; " + std::to_string(f.overrides_dropped) + " more dropped by the kill switch";
  return c;
}

Check check_kill_switch(const Facts& f) {
  Check c{"kill switch", Outcome::ok, ""};
  if (!f.kill_switch_wanted) return {c.name, Outcome::skipped, "not configured (include_all_networks is off)"};
  if (!f.kill_switch_present) return {c.name, Outcome::skipped, "not checked: " + f.kill_switch_error};
  if (!*f.kill_switch_present) {
    c.result = Outcome::fail;
    c.detail = "nftables table inet " + f.kill_switch_table + " is missing: traffic outside the tunnel is not blocked";
    if (!f.kill_switch_error.empty()) c.detail += " (" + f.kill_switch_error + ")";
  } else {
    c.detail = "nftables table inet " + f.kill_switch_table + " in place";
  }
  return c;
}

Check check_leaks(const Facts& f) {
  Check c{"leak probes", Outcome::ok, ""};
  std::vector<std::string> leaks;
  for (const auto& p : f.probes)
    if (p.found && p.unicast && p.ifindex != f.tun_ifindex) leaks.push_back(p.what + " " + where(p));
  if (f.probes.empty()) return {c.name, Outcome::skipped, "no route into the tunnel to probe"};
  if (!leaks.empty()) {
    c.result = Outcome::fail;
    c.detail = std::to_string(leaks.size()) + " of " + std::to_string(f.probes.size()) +
               " lookups leave outside " + f.tun_iface + ": " + join(leaks);
  } else {
    c.detail = std::to_string(f.probes.size()) + " lookups (udp, tcp, dns) go through " + f.tun_iface;
  }
  return c;
}

Check check_dns(const Facts& f) {
  Check c{"dns", Outcome::ok, ""};
  std::string pushed;
  for (const auto& a : f.pushed_dns) pushed += (pushed.empty() ? "" : ", ") + a.str();
  std::vector<std::string> outside, used;
  for (const auto& r : f.resolvers) {
    used.push_back(r.dst.str() + (is_loopback(r.dst) ? " (local)" : " " + where(r)));
    if (is_loopback(r.dst) || !r.found || !r.unicast || r.ifindex == f.tun_ifindex) continue;
    // Outside the tunnel is a leak when the tunnel owns DNS or carries everything.
    if (!f.pushed_dns.empty() || f.full_tunnel) outside.push_back(r.dst.str() + " " + where(r));
  }
  c.detail = "host resolvers: " + (used.empty() ? std::string("none") : join(used)) +
             "; pushed: " + (pushed.empty() ? std::string("none") : pushed);
  if (!outside.empty()) {
    c.result = Outcome::fail;
    c.detail = "resolvers outside the tunnel: " + join(outside) + "; " + c.detail;
  }
  return c;
}

Check check_dns_answers(const Facts& f) {
  Check c{"dns answers", Outcome::ok, ""};
  if (f.dns_answers.empty()) return {c.name, Outcome::skipped, "no resolver in resolv.conf"};
  std::vector<std::string> good, bad;
  for (const auto& a : f.dns_answers) {
    std::string who = a.server.str();
    if (!a.answered)
      bad.push_back(who + ": " + (a.error.empty() ? "no answer" : a.error));
    else if (a.rcode != 0 && a.rcode != 3)
      bad.push_back(who + ": RCODE " + std::to_string(a.rcode) + (a.rcode == 5 ? " (refused)" : a.rcode == 2 ? " (server failure)" : ""));
    else
      good.push_back(who + " (" + std::to_string(a.ms) + " ms)");
  }
  c.detail = f.dns_answers[0].name + " A: " + (good.empty() ? std::string("no resolver answers") : "answered by " + join(good));
  if (!bad.empty()) {
    c.result = Outcome::fail;
    c.detail += "; not by " + join(bad);
  }
  return c;
}

Check check_clock(const Facts& f) {
  Check c{"clock skew", Outcome::ok, ""};
  if (!f.clock_skew) return {c.name, Outcome::skipped, "not checked: the server does not send its time (an older server)"};
  int64_t s = *f.clock_skew;
  int64_t a = s < 0 ? -s : s;
  c.detail = a <= 1 ? "this host's clock agrees with the server's"
                    : "this host's clock is " + std::to_string(a) + " s " + (s > 0 ? "behind" : "ahead of") + " the server's";
  if (a > kSkewWarnSecs) {
    c.result = Outcome::fail;
    c.detail += ": certificates and the CRL are judged by these clocks (is NTP running?)";
  }
  return c;
}

Check check_mtu(const char* name, const std::optional<uint32_t>& crossed, const std::string& note, uint32_t tun_mtu,
                const char* how) {
  Check c{name, Outcome::ok, ""};
  if (!crossed) return {c.name, Outcome::skipped, note};
  if (*crossed >= tun_mtu) {
    c.detail = std::to_string(tun_mtu) + "-byte packets (the TUN's MTU) cross the tunnel " + how;
  } else {
    c.result = Outcome::fail;
    c.detail = *crossed ? "only " + std::to_string(*crossed) + "-byte packets cross the tunnel, the TUN's MTU is " +
                              std::to_string(tun_mtu)
                        : std::string("no ping crossed the tunnel ") + how;
  }
  return c;
}

}  // namespace

Check check_expiry(const std::optional<int64_t>& not_after, const std::string& error, int64_t now, const std::string& whose,
                   const std::string& expired_note) {
  Check c{"certificate", Outcome::ok, ""};
  if (!not_after) return {c.name, Outcome::fail, "cannot read the " + whose + " certificate: " + error};
  int64_t left = *not_after - now;
  if (left <= 0) return {c.name, Outcome::fail, "expired " + std::to_string(-left / 86400) + " day(s) ago" + expired_note};
  c.detail = "expires in " + std::to_string(left / 86400) + " day(s)";
  if (left < kCertWarnSecs) c.result = Outcome::fail;
  return c;
}

const char* to_string(Outcome r) {
  switch (r) {
    case Outcome::ok: return "ok";
    case Outcome::fail: return "fail";
    case Outcome::skipped: return "skipped";
  }
  return "?";
}

IpAddr probe_address(const Cidr& included) {
  if (included.prefix == 0) return *IpAddr::parse(included.addr.is_v4() ? "192.0.2.1" : "2001:db8::1");
  Cidr n = included.network();
  IpAddr a = n.addr;
  size_t bits = a.size() * 8;
  if (size_t(n.prefix) + 1 < bits) a.bytes[a.size() - 1] |= 1;   // the first host, not the network address
  return a;
}

std::vector<Check> evaluate(const Facts& f) {
  std::vector<Check> out;
  if (f.state != "connected") {
    out.push_back({"connected", Outcome::fail, "the client is " + (f.state.empty() ? std::string("not running") : f.state)});
    out.push_back(check_kill_switch(f));   // the kill switch matters most while not connected
    out.push_back(check_expiry(f.cert_not_after, f.cert_error, f.now, "client"));
    return out;
  }
  out.push_back({"connected", Outcome::ok, "through " + f.tun_iface});
  out.push_back(check_overrides(f));
  out.push_back(check_kill_switch(f));
  out.push_back(check_leaks(f));
  out.push_back(check_dns(f));
  out.push_back(check_dns_answers(f));
  out.push_back(check_expiry(f.cert_not_after, f.cert_error, f.now, "client"));
  out.push_back(check_clock(f));
  out.push_back(check_mtu("mtu", f.mtu_crossed, f.mtu_note, f.tun_mtu, "with DF set"));
  out.push_back(check_mtu("mtu ipv6", f.mtu6_crossed, f.mtu6_note, f.tun_mtu, "over IPv6 (no fragmentation)"));
  return out;
}

size_t findings(const std::vector<Check>& checks) {
  size_t n = 0;
  for (const auto& c : checks) n += c.result == Outcome::fail;
  return n;
}

}  // namespace ptun::netcfg::doctor
