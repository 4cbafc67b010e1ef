// Fuzz target: what the on-demand engine reads from outside: resolv.conf text (the current
// network's DNS), probe URLs, HTTP status lines; then one evaluation over what was parsed.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ondemand/rules.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ptun::ondemand;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Network net;
  parse_resolv_conf(text, &net.dns_servers, &net.search_domains);
  HttpUrl u;
  bool url_ok = parse_http_url(text.substr(0, text.find('\n')), &u);
  Rule r;
  r.action = Action::evaluate;
  r.dns_servers = net.dns_servers;
  for (const auto& d : net.search_domains) r.dns_search_domains.push_back("*." + d);
  if (url_ok) r.required_url = std::string(text.substr(0, text.find('\n')));
  net.interface = "eth0";
  net.type = IfType::ethernet;
  auto d = evaluate({r}, net, {});
  if (d.kind == Decision::probe) (void)evaluate({r}, net, {{d.url, size % 2 == 0}});
  for (const auto& a : net.search_domains) (void)domain_matches(a, text.substr(0, 64));
  return 0;
}
