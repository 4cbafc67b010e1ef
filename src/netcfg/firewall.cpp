#include "netcfg/firewall.hpp"

#include <cstdio>
#include <type_traits>

#include "hostio/nft_script.hpp"

namespace ptun::netcfg {
namespace {

// The prefixes (or addresses) of one family, as set elements.
template <typename T>
std::vector<std::string> of_family(const std::vector<T>& v, Family f) {
  std::vector<std::string> out;
  for (const auto& x : v) {
    if constexpr (std::is_same_v<T, Cidr>) {
      if (x.addr.family == f) out.push_back(x.network().str());
    } else {
      if (x.family == f) out.push_back(x.str());
    }
  }
  return out;
}

const char* fam(Family f) { return f == Family::v4 ? "ip" : "ip6"; }

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

Result<std::string> killswitch_script(const KillSwitchSpec& s) {
  // flush: the table object stays across updates (firewall.hpp)
  hostio::NftTable t(s.table, hostio::NftReplace::flush);
  const std::string tun = t.quote(s.tun_iface);
  const Family fams[2] = {Family::v4, Family::v6};
  std::string local[2];   // the local networks' sets, per family
  for (int i = 0; i < 2; ++i) local[i] = t.set(of_family(s.local_networks, fams[i]));
  auto allow_local = [&] {
    for (int i = 0; i < 2; ++i)
      if (!local[i].empty()) t.rule(std::string(fam(fams[i])) + " daddr " + local[i] + " accept");
  };
  t.chain("output", "type filter hook output priority -10; policy drop;")
      .rule("oifname \"lo\" accept")
      .rule("oifname " + tun + " accept");
  if (!s.server.addr.empty()) {
    const std::string to_server = "meta mark " + hostio::nft_hex(s.fwmark, 8) + " " + fam(s.server.addr.family) +
                                  " daddr " + s.server.addr.str();
    t.rule(to_server + " udp dport " + std::to_string(s.server.port) + " accept");
    if (s.server_tcp_port) t.rule(to_server + " tcp dport " + std::to_string(s.server_tcp_port) + " accept");
  } else {
    // A name not resolved so far: its lookup may reach the resolvers, and only on port 53.
    for (Family f : {Family::v4, Family::v6}) {
      std::string set = t.set(of_family(s.resolvers, f));
      if (!set.empty()) t.rule(std::string(fam(f)) + " daddr " + set + " meta l4proto { udp, tcp } th dport 53 accept");
    }
  }
  t.rule("udp sport 68 udp dport 67 accept")
      .rule("ip6 daddr ff02::1:2 udp sport 546 udp dport 547 accept")
      .rule("icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept");
  allow_local();
  t.rule("counter drop");
  t.chain("forward", "type filter hook forward priority -10; policy drop;")
      .rule("oifname " + tun + " accept")
      .rule("iifname " + tun + " accept");
  allow_local();
  t.rule("counter drop");
  return t.script();
}

Result<std::string> enforce_script(const EnforceSpec& s) {
  hostio::NftTable t(s.table, hostio::NftReplace::flush);
  const std::string tun = t.quote(s.tun_iface);
  t.chain("output", "type filter hook output priority -10; policy accept;")
      .rule("oifname \"lo\" accept")
      .rule("meta mark " + hostio::nft_hex(s.fwmark, 8) + " accept");
  for (Family f : {Family::v4, Family::v6}) {
    const std::string daddr = std::string(fam(f)) + " daddr ";
    std::string exc = t.set(of_family(s.excluded, f)), inc = t.set(of_family(s.included, f)),
                con = t.set(of_family(s.connected, f));
    // Order matters: excluded prefixes are usually inside included ones (the more specific wins).
    if (!exc.empty()) {
      t.rule(daddr + exc + " oifname " + tun + " counter drop");
      t.rule(daddr + exc + " accept");
    }
    if (!con.empty()) t.rule(daddr + con + " oifname != " + tun + " accept");
    if (!inc.empty()) t.rule(daddr + inc + " oifname != " + tun + " counter drop");
  }
  return t.script();
}

}  // namespace ptun::netcfg
