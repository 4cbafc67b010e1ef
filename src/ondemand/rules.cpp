#include "ondemand/rules.hpp"

#include <fnmatch.h>
#include <linux/if_arp.h>

#include <algorithm>
#include <cctype>

namespace ptun::ondemand {
namespace {

std::string lower_trim_dot(std::string_view s) {
  std::string out(s);
  while (!out.empty() && out.back() == '.') out.pop_back();
  for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool any_name_matches(const std::vector<std::string>& globs, const std::string& name) {
  if (name.empty()) return false;
  for (const auto& g : globs)
    if (::fnmatch(g.c_str(), name.c_str(), 0) == 0) return true;
  return false;
}

// All conditions of `r` except the probe hold on `net`.
bool static_match(const Rule& r, const Network& net) {
  if (r.interface_type && *r.interface_type != net.type) return false;
  if (!r.interface_names.empty() && !any_name_matches(r.interface_names, net.interface)) return false;
  if (!r.dns_search_domains.empty()) {
    bool hit = false;
    for (const auto& p : r.dns_search_domains)
      for (const auto& d : net.search_domains) hit = hit || domain_matches(p, d);
    if (!hit) return false;
  }
  if (!r.dns_servers.empty()) {
    bool hit = false;
    for (const auto& s : net.dns_servers)
      hit = hit || std::find(r.dns_servers.begin(), r.dns_servers.end(), s) != r.dns_servers.end();
    if (!hit) return false;
  }
  return true;
}

// "host:" or "[v6]:" with nothing after the colon is malformed, not port 80.
bool colon_or_bracket_port_given(std::string_view hostport) {
  if (!hostport.empty() && hostport[0] == '[') {
    size_t close = hostport.find(']');
    return close != std::string_view::npos && close + 1 < hostport.size();
  }
  return hostport.find(':') != std::string_view::npos;
}

}  // namespace

const char* to_string(Action a) {
  switch (a) {
    case Action::connect: return "connect";
    case Action::disconnect: return "disconnect";
    case Action::evaluate: return "evaluate";
    case Action::ignore: return "ignore";
  }
  return "?";
}

const char* to_string(IfType t) {
  switch (t) {
    case IfType::ethernet: return "ethernet";
    case IfType::wifi: return "wifi";
    case IfType::cellular: return "cellular";
    case IfType::loopback: return "loopback";
    case IfType::other: return "other";
    case IfType::none: return "none";
  }
  return "?";
}

std::optional<Action> parse_action(std::string_view s) {
  for (Action a : {Action::connect, Action::disconnect, Action::evaluate, Action::ignore})
    if (s == to_string(a)) return a;
  return std::nullopt;
}

bool parse_if_type(std::string_view s, std::optional<IfType>* out) {
  if (s == "any") {
    *out = std::nullopt;
    return true;
  }
  for (IfType t : {IfType::ethernet, IfType::wifi, IfType::cellular, IfType::loopback, IfType::other, IfType::none})
    if (s == to_string(t)) {
      *out = t;
      return true;
    }
  return false;
}

Decision evaluate(const std::vector<Rule>& rules, const Network& net, const ProbeResults& probes) {
  for (size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    if (!static_match(r, net)) continue;
    if (!r.probe_url.empty()) {
      auto it = probes.find(r.probe_url);
      if (it == probes.end()) return {Decision::probe, int(i), r.probe_url};
      if (!it->second) continue;
    }
    switch (r.action) {
      case Action::connect: return {Decision::connect, int(i), {}};
      case Action::disconnect: return {Decision::disconnect, int(i), {}};
      case Action::ignore: return {Decision::keep, int(i), {}};
      case Action::evaluate: {
        // No required_url: nothing to decide on, so the tunnel is needed (Apple's "connect if needed"
        // with no probe connects).
        if (r.required_url.empty()) return {Decision::connect, int(i), {}};
        auto it = probes.find(r.required_url);
        if (it == probes.end()) return {Decision::probe, int(i), r.required_url};
        return {it->second ? Decision::disconnect : Decision::connect, int(i), {}};
      }
    }
  }
  return {Decision::keep, -1, {}};
}

bool domain_matches(std::string_view pattern, std::string_view domain) {
  std::string p = lower_trim_dot(pattern), d = lower_trim_dot(domain);
  if (p.empty() || d.empty()) return false;
  if (p.rfind("*.", 0) == 0) {
    std::string base = p.substr(2);
    if (d == base) return true;
    return d.size() > base.size() && d.compare(d.size() - base.size(), base.size(), base) == 0 &&
           d[d.size() - base.size() - 1] == '.';
  }
  return p == d;
}

void parse_resolv_conf(std::string_view text, std::vector<IpAddr>* servers, std::vector<std::string>* search) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    std::vector<std::string_view> words;
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      if (i >= line.size() || line[i] == '#' || line[i] == ';') break;
      size_t j = i;
      while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
      words.push_back(line.substr(i, j - i));
      i = j;
    }
    if (words.size() < 2) continue;
    if (words[0] == "nameserver") {
      // "fe80::1%eth0": the zone is not part of the address we match on
      std::string_view a = words[1].substr(0, words[1].find('%'));
      if (auto ip = IpAddr::parse(a)) servers->push_back(*ip);
    } else if (words[0] == "search" || words[0] == "domain") {
      // the last search/domain line wins (resolv.conf(5))
      search->clear();
      for (size_t k = 1; k < words.size(); ++k) search->push_back(lower_trim_dot(words[k]));
    }
  }
}

bool parse_http_url(std::string_view url, HttpUrl* out) {
  constexpr std::string_view kScheme = "http://";
  if (url.size() > 2048 || url.substr(0, kScheme.size()) != kScheme) return false;
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  HttpUrl u;
  if (slash != std::string_view::npos) u.path = std::string(rest.substr(slash));
  std::string_view port;
  if (!hostport.empty() && hostport[0] == '[') {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) return false;
    u.host = std::string(hostport.substr(1, close - 1));
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return false;
      port = after.substr(1);
    }
    if (!IpAddr::parse(u.host)) return false;
  } else {
    size_t colon = hostport.find(':');
    u.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) port = hostport.substr(colon + 1);
  }
  if (u.host.empty()) return false;
  for (char c : u.host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '_')) return false;
  for (char c : u.path)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return false;
  if (!port.empty() || (colon_or_bracket_port_given(hostport))) {
    if (port.empty() || port.size() > 5) return false;
    uint32_t p = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return false;
      p = p * 10 + uint32_t(c - '0');
    }
    if (p == 0 || p > 65535) return false;
    u.port = uint16_t(p);
  }
  *out = std::move(u);
  return true;
}

IfType classify_interface(int arphrd, std::string_view devtype, std::string_view name) {
  if (arphrd == ARPHRD_LOOPBACK) return IfType::loopback;
  if (devtype == "wlan") return IfType::wifi;
  if (devtype == "wwan" || name.rfind("wwan", 0) == 0 || name.rfind("rmnet", 0) == 0) return IfType::cellular;
  if (arphrd == ARPHRD_ETHER) return IfType::ethernet;
  return IfType::other;
}

}  // namespace ptun::ondemand
