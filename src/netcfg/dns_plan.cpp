#include "netcfg/dns_plan.hpp"

#include <algorithm>
#include <cctype>

#include "proto/settings.hpp"

namespace ptun::netcfg {
namespace {

std::string normalise(std::string_view d) {
  std::string s(d);
  while (!s.empty() && s.back() == '.') s.pop_back();
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool eq_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

template <typename T>
void add_unique(std::vector<T>& v, const T& x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

}  // namespace

bool name_matches(std::string_view name, std::string_view domain) {
  while (!name.empty() && name.back() == '.') name.remove_suffix(1);
  while (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.empty()) return true;
  if (name.size() < domain.size()) return false;
  if (!eq_nocase(name.substr(name.size() - domain.size()), domain)) return false;
  return name.size() == domain.size() || name[name.size() - domain.size() - 1] == '.';
}

Result<DnsPlan> plan_dns(const DnsInputs& in) {
  DnsPlan p;
  for (const auto& s : in.servers) add_unique(p.servers, s);
  for (const auto& d : in.search_domains) {
    std::string n = normalise(d);
    if (!proto::valid_domain(n)) return Error(Errc::invalid_argument, "invalid search domain '" + d + "'");
    add_unique(p.search_domains, n);
  }
  bool all = in.match_domains.empty();
  std::vector<std::string> match;
  for (const auto& d : in.match_domains) {
    std::string n = normalise(d);
    if (n.empty()) {
      all = true;
      continue;
    }
    if (!proto::valid_domain(n)) return Error(Errc::invalid_argument, "invalid match domain '" + d + "'");
    add_unique(match, n);
  }
  if (p.servers.empty()) {
    p.search_domains.clear();
    return p;   // nothing to resolve with: the host's DNS stays as it is
  }
  p.mode = all ? DnsMode::full : DnsMode::split;
  if (!all) p.match_domains = match;
  return p;
}

std::vector<IpAddr> parse_nameservers(std::string_view text) {
  std::vector<IpAddr> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    size_t i = 0;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    line.remove_prefix(i);
    if (line.substr(0, 10) != "nameserver") continue;
    line.remove_prefix(10);
    if (line.empty() || (line[0] != ' ' && line[0] != '\t')) continue;
    while (!line.empty() && (line[0] == ' ' || line[0] == '\t')) line.remove_prefix(1);
    size_t end = line.find_first_of(" \t#;%\r");   // drop comments and a %scope suffix
    if (auto a = IpAddr::parse(line.substr(0, end))) add_unique(out, *a);
  }
  return out;
}

std::string render_resolv_conf(const DnsPlan& plan, std::string_view original) {
  std::string s = "# written by ptun; the original is restored when the tunnel goes down\n";
  if (plan.mode == DnsMode::split) {
    s += std::string("nameserver ") + kForwarderAddr + "\n";
  } else {
    size_t n = 0;
    for (const auto& a : plan.servers) s += (n++ < 3 ? "nameserver " : "# nameserver (glibc reads 3) ") + a.str() + "\n";
  }
  // search: the tunnel's first, then the original ones (split DNS keeps the host's search list).
  std::vector<std::string> search = plan.search_domains;
  std::string_view text = original;
  std::vector<std::string> options;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.substr(0, 8) == "options ") options.emplace_back(line);
    if (plan.mode == DnsMode::split && (line.substr(0, 7) == "search " || line.substr(0, 7) == "domain ")) {
      std::string_view rest = line.substr(7);
      while (!rest.empty()) {
        size_t sp = rest.find_first_of(" \t");
        std::string_view w = rest.substr(0, sp);
        if (!w.empty()) add_unique(search, normalise(w));
        rest.remove_prefix(sp == std::string_view::npos ? rest.size() : sp + 1);
      }
    }
  }
  if (!search.empty()) {
    s += "search";
    for (const auto& d : search) s += " " + d;
    s += "\n";
  }
  for (const auto& o : options) s += o + "\n";
  return s;
}

std::vector<std::vector<std::string>> resolved_commands(const DnsPlan& plan, const std::string& ifname) {
  std::vector<std::vector<std::string>> cmds;
  if (plan.mode == DnsMode::none) return cmds;
  std::vector<std::string> dns = {"resolvectl", "dns", ifname};
  for (const auto& a : plan.servers) dns.push_back(a.str());
  cmds.push_back(dns);
  std::vector<std::string> dom = {"resolvectl", "domain", ifname};
  for (const auto& d : plan.search_domains) dom.push_back(d);
  if (plan.mode == DnsMode::full) {
    dom.push_back("~.");   // route every name to this link
  } else {
    for (const auto& d : plan.match_domains) dom.push_back("~" + d);
  }
  cmds.push_back(dom);
  cmds.push_back({"resolvectl", "default-route", ifname, plan.mode == DnsMode::full ? "yes" : "no"});
  return cmds;
}

std::vector<std::string> resolved_revert_command(const std::string& ifname) {
  return {"resolvectl", "revert", ifname};
}

bool is_loopback(const IpAddr& a) {
  if (a.is_v4()) return a.bytes[0] == 127;
  if (!a.is_v6()) return false;
  for (size_t i = 0; i < 15; ++i)
    if (a.bytes[i]) return false;
  return a.bytes[15] == 1;
}

}  // namespace ptun::netcfg
