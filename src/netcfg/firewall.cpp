#include "netcfg/firewall.hpp"

#include <cstdio>
#include <sstream>

namespace ptun::netcfg {
namespace {

std::string hex(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

// "{ a, b }" of the prefixes of one family, or "" when there are none.
std::string set_of(const std::vector<Cidr>& v, Family f) {
  std::string s;
  for (const auto& c : v) {
    if (c.addr.family != f) continue;
    s += s.empty() ? "{ " : ", ";
    s += c.network().str();
  }
  return s.empty() ? s : s + " }";
}

void header(std::ostringstream& o, const std::string& table) {
  // add + flush + define in one transaction: atomic replacement (see firewall.hpp).
  o << "add table inet " << table << "\n"
    << "flush table inet " << table << "\n";
}

}  // namespace

bool valid_ifname(const std::string& n) {
  if (n.empty() || n.size() > 15) return false;
  for (char c : n)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
  return true;
}

std::string instance_nft_table(const std::string& ifname, const std::string& suffix) {
  std::string out = "ptun_";
  bool changed = false;
  for (char c : ifname) {
    char m = c;
    if (c >= 'A' && c <= 'Z') m = char(c - 'A' + 'a');
    else if (c == '.' || c == '-') m = '_';
    changed |= m != c;
    out += m;
  }
  if (changed) {
    uint32_t h = 2166136261u;   // FNV-1a
    for (char c : ifname) h = (h ^ uint8_t(c)) * 16777619u;
    char hex[8];
    std::snprintf(hex, sizeof hex, "_%04x", unsigned(h & 0xffff));
    out += hex;
  }
  if (!suffix.empty()) out += "_" + suffix;
  return out;
}

std::string delete_table_script(const std::string& table) { return "delete table inet " + table + "\n"; }

std::string killswitch_script(const KillSwitchSpec& s) {
  std::ostringstream o;
  header(o, s.table);
  std::string l4 = set_of(s.local_networks, Family::v4), l6 = set_of(s.local_networks, Family::v6);
  std::string sfam = s.server.addr.is_v4() ? "ip" : "ip6";
  o << "table inet " << s.table << " {\n"
    << "  chain output {\n"
    << "    type filter hook output priority -10; policy drop;\n"
    << "    oifname \"lo\" accept\n"
    << "    oifname \"" << s.tun_iface << "\" accept\n";
  if (!s.server.addr.empty()) {
    o << "    meta mark " << hex(s.fwmark) << " " << sfam << " daddr " << s.server.addr.str()
      << " udp dport " << s.server.port << " accept\n";
    if (s.server_tcp_port)
      o << "    meta mark " << hex(s.fwmark) << " " << sfam << " daddr " << s.server.addr.str()
        << " tcp dport " << s.server_tcp_port << " accept\n";
  } else {
    // A name not resolved so far: its lookup may reach the resolvers, and only on port 53.
    for (Family f : {Family::v4, Family::v6}) {
      std::string set;
      for (const auto& a : s.resolvers)
        if (a.family == f) set += (set.empty() ? "{ " : ", ") + a.str();
      if (!set.empty())
        o << "    " << (f == Family::v4 ? "ip" : "ip6") << " daddr " << set << " } meta l4proto { udp, tcp } th dport 53 accept\n";
    }
  }
  o << "    udp sport 68 udp dport 67 accept\n"
    << "    ip6 daddr ff02::1:2 udp sport 546 udp dport 547 accept\n"
    << "    icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept\n";
  if (!l4.empty()) o << "    ip daddr " << l4 << " accept\n";
  if (!l6.empty()) o << "    ip6 daddr " << l6 << " accept\n";
  o << "    counter drop\n"
    << "  }\n"
    << "  chain forward {\n"
    << "    type filter hook forward priority -10; policy drop;\n"
    << "    oifname \"" << s.tun_iface << "\" accept\n"
    << "    iifname \"" << s.tun_iface << "\" accept\n";
  if (!l4.empty()) o << "    ip daddr " << l4 << " accept\n";
  if (!l6.empty()) o << "    ip6 daddr " << l6 << " accept\n";
  o << "    counter drop\n"
    << "  }\n"
    << "}\n";
  return o.str();
}

std::string enforce_script(const EnforceSpec& s) {
  std::ostringstream o;
  header(o, s.table);
  o << "table inet " << s.table << " {\n"
    << "  chain output {\n"
    << "    type filter hook output priority -10; policy accept;\n"
    << "    oifname \"lo\" accept\n"
    << "    meta mark " << hex(s.fwmark) << " accept\n";
  for (Family f : {Family::v4, Family::v6}) {
    const char* fam = f == Family::v4 ? "ip" : "ip6";
    std::string exc = set_of(s.excluded, f), inc = set_of(s.included, f), con = set_of(s.connected, f);
    // Order matters: excluded prefixes are usually inside included ones (the more specific wins).
    if (!exc.empty()) {
      o << "    " << fam << " daddr " << exc << " oifname \"" << s.tun_iface << "\" counter drop\n";
      o << "    " << fam << " daddr " << exc << " accept\n";
    }
    if (!con.empty()) o << "    " << fam << " daddr " << con << " oifname != \"" << s.tun_iface << "\" accept\n";
    if (!inc.empty()) o << "    " << fam << " daddr " << inc << " oifname != \"" << s.tun_iface << "\" counter drop\n";
  }
  o << "  }\n"
    << "}\n";
  return o.str();
}

}  // namespace ptun::netcfg
