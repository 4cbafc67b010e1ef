// DNS settings on the client host (sans-I/O), with Apple's semantics (NEDNSSettings):
//  - no servers: DNS is left alone;
//  - no match domains, or a match domain "" (all): the tunnel's resolvers become the default for
//    every name; search domains are added;
//  - match domains: only names under them go to the tunnel's resolvers (split DNS); everything
//    else keeps the host's original resolvers.
// Back ends: systemd-resolved (per-link DNS and "~domain" routing domains via resolvectl), or
// /etc/resolv.conf rewritten in place and restored byte for byte; split DNS without resolved
// points resolv.conf at ptun's own forwarder on a loopback address (dns_forwarder.hpp).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net_addr.hpp"
#include "common/result.hpp"

namespace ptun::netcfg {

// The loopback address ptun's split-DNS forwarder listens on (127.80.116.53 = 'P' 't' ...53).
inline constexpr const char* kForwarderAddr = "127.80.116.53";

struct DnsInputs {
  std::vector<IpAddr> servers;
  std::vector<std::string> search_domains, match_domains;   // push + local config, merged
};

enum class DnsMode { none, full, split };

struct DnsPlan {
  DnsMode mode = DnsMode::none;
  std::vector<IpAddr> servers;
  std::vector<std::string> search_domains;
  std::vector<std::string> match_domains;   // split only, normalised (lower case, no trailing dot)
  bool operator==(const DnsPlan&) const = default;
};

// Errc::invalid_argument for a domain that is not a DNS name (match "" is allowed: "all").
Result<DnsPlan> plan_dns(const DnsInputs& in);

// resolv.conf text for the plan: `nameserver` lines (glibc reads at most 3: the rest are kept as
// comments), `search`, and for split mode the forwarder as the only nameserver. Options lines of
// the original file are kept.
std::string render_resolv_conf(const DnsPlan& plan, std::string_view original);

// The nameserver addresses of a resolv.conf (the forwarder's upstreams for non-matching names).
std::vector<IpAddr> parse_nameservers(std::string_view resolv_conf);
// 127.0.0.0/8 or ::1: a resolver on this host (systemd-resolved's 127.0.0.53, ptun's forwarder).
bool is_loopback(const IpAddr& a);

// The resolvectl command lines that configure the TUN link for the plan (systemd-resolved
// back end), and the one that reverts it.
std::vector<std::vector<std::string>> resolved_commands(const DnsPlan& plan, const std::string& ifname);
std::vector<std::string> resolved_revert_command(const std::string& ifname);

// `name` (a query name, any case, with or without the final dot) is `domain` or under it.
// The empty domain matches every name.
bool name_matches(std::string_view name, std::string_view domain);

}  // namespace ptun::netcfg
