// On-demand rules (Apple: NEOnDemandRule), sans-I/O. An ordered list of rules, each an action and
// match conditions on the current network; the first rule whose conditions all hold decides.
// Evaluation re-runs on every path change (the client's path monitor builds a Network snapshot).
//
//   connect     bring the tunnel up
//   disconnect  take it down (and keep it down while this rule matches)
//   evaluate    "connect if needed": probe `required_url` over the current network; the tunnel
//               comes up only if that resource is not reachable without it (Apple's
//               EvaluateConnection rule with a requiredURLStringProbe)
//   ignore      leave the tunnel as it is
//
// Probes are I/O, so evaluate() never runs one: when it reaches a rule that needs a probe result
// it does not have, it returns Decision::probe with the URL; the caller runs the probe, adds the
// result to ProbeResults and calls evaluate() again (a rule's probes are asked for in order, so
// the loop ends after at most two probes per rule).
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net_addr.hpp"

namespace ptun::ondemand {

enum class Action { connect, disconnect, evaluate, ignore };
// The kind of the primary interface (the one the route to the server leaves by); none = no route.
enum class IfType { ethernet, wifi, cellular, loopback, other, none };

const char* to_string(Action);
const char* to_string(IfType);
std::optional<Action> parse_action(std::string_view);
// Accepts the IfType names and "any" (returned as nullopt in *out with true).
bool parse_if_type(std::string_view, std::optional<IfType>* out);

struct Rule {
  Action action = Action::ignore;
  std::optional<IfType> interface_type;          // absent = any
  std::vector<std::string> interface_names;      // shell globs (fnmatch); empty = any
  std::vector<std::string> dns_search_domains;   // any current search domain matches one; "*.x" = x and below
  std::vector<IpAddr> dns_servers;               // any current DNS server is one of these
  std::string probe_url;                         // matches if the URL answers 2xx
  std::string required_url;                      // evaluate only: connect if this is unreachable
  bool operator==(const Rule&) const = default;
};

// What the path monitor sees of the current network.
struct Network {
  std::string interface;                 // primary interface name, "" if no route to the server
  IfType type = IfType::none;
  std::vector<std::string> search_domains;
  std::vector<IpAddr> dns_servers;
  bool operator==(const Network&) const = default;
};

using ProbeResults = std::map<std::string, bool>;  // url -> reachable (2xx)

struct Decision {
  enum Kind { connect, disconnect, keep, probe } kind = keep;
  int rule = -1;          // index of the rule that decided (-1: none matched)
  std::string url;        // kind == probe: the URL to probe next
};

// First match wins; no match (or an ignore rule) -> keep.
Decision evaluate(const std::vector<Rule>& rules, const Network& net, const ProbeResults& probes);

// Whether `domain` is matched by `pattern` ("example.com" exact; "*.example.com" the domain and
// everything below it). Case-insensitive, trailing dots ignored.
bool domain_matches(std::string_view pattern, std::string_view domain);

// The DNS servers and search domains in resolv.conf text ("nameserver", "search", "domain").
void parse_resolv_conf(std::string_view text, std::vector<IpAddr>* servers, std::vector<std::string>* search);

// Splits "http://host[:port][/path]" (host a name, IPv4 or [IPv6]; port 1..65535, default 80;
// path default "/"). Only http: a probe asks whether a resource answers, over the current network,
// without trusting it. False for anything else.
struct HttpUrl {
  std::string host;
  uint16_t port = 80;
  std::string path = "/";
};
bool parse_http_url(std::string_view url, HttpUrl* out);

// Interface kind from what sysfs says: ARPHRD type (/sys/class/net/X/type) and the uevent DEVTYPE
// ("wlan", "wwan", ...; may be empty).
IfType classify_interface(int arphrd, std::string_view devtype, std::string_view name);

}  // namespace ptun::ondemand
