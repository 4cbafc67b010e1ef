// The client's [[on_demand]] tables (Apple: NEOnDemandRule), validated key by key.
#include "config/readers.hpp"

namespace ptun::config {

void read_on_demand_rule(TableReader& t, ondemand::Rule& rule) {
  t.string(
      "action",
      [&](const std::string& s) {
        auto a = ondemand::parse_action(s);
        if (!a) return "'" + s + "' is not an action (connect|disconnect|evaluate|ignore)";
        rule.action = *a;
        return std::string();
      },
      true);
  t.string("interface_type", [&](const std::string& s) {
    if (ondemand::parse_if_type(s, &rule.interface_type)) return std::string();
    return "'" + s + "' is not an interface type (any|ethernet|wifi|cellular|loopback|other|none)";
  });
  t.string_array("interface_name", bounds::kMaxInterfaces, [&](const std::string& s) {
    // A glob over interface names: the same characters, plus * ? [ ].
    if (auto why = check_interface_name(s); !why.empty()) return why;
    rule.interface_names.push_back(s);
    return std::string();
  });
  t.string_array("dns_search_domains", bounds::kMaxDomains, [&](const std::string& s) {
    std::string_view base = s.rfind("*.", 0) == 0 ? std::string_view(s).substr(2) : std::string_view(s);
    if (auto why = check_domain(base); !why.empty()) return why;
    rule.dns_search_domains.push_back(s);
    return std::string();
  });
  t.string_array("dns_servers", bounds::kMaxDnsServers,
                 [&](const std::string& s) { return add_ip(rule.dns_servers, s); });
  auto url_key = [&](std::string_view key, std::string& out) {
    t.string(key, [&](const std::string& s) {
      ondemand::HttpUrl u;
      if (!ondemand::parse_http_url(s, &u)) return "'" + s + "' is not an http://host[:port][/path] URL";
      out = s;
      return std::string();
    });
  };
  url_key("probe_url", rule.probe_url);
  url_key("required_url", rule.required_url);
  if (!rule.required_url.empty() && rule.action != ondemand::Action::evaluate)
    t.fail_at("required_url", "only an evaluate rule has a required_url");
  t.finish();
}

}  // namespace ptun::config
