// The client's [[on_demand]] rules: parsed in order, every key validated, emitted back.
#include <catch2/catch.hpp>

#include "config/config.hpp"

using namespace ptun;
using namespace ptun::config;

namespace {

std::string client_doc(const std::string& rules) {
  return "server = \"198.18.0.2:4433\"\nserver_name = \"vpn\"\nca = \"/ca\"\ncert = \"/c\"\nkey = \"/k\"\n" + rules;
}

std::string error_of(const std::string& rules) {
  auto r = parse_client(client_doc(rules), "c.toml");
  return r ? "" : r.error().message;
}

}  // namespace

TEST_CASE("on_demand rules are read in order with all their keys", "[config][on_demand]") {
  auto r = parse_client(client_doc(R"(
[[on_demand]]
action = "disconnect"
interface_name = ["home*", "eth[01]"]
dns_search_domains = ["*.corp.example", "lab.example"]
dns_servers = ["10.0.0.53", "fd00::53"]
probe_url = "http://10.0.0.1/ok"

[[on_demand]]
action = "evaluate"
interface_type = "wifi"
required_url = "http://[fd00::1]:8080/health"

[[on_demand]]
action = "connect"
interface_type = "any"
)"),
                        "c.toml");
  REQUIRE(r.ok());
  const auto& rules = r->on_demand;
  REQUIRE(rules.size() == 3);
  CHECK(rules[0].action == ondemand::Action::disconnect);
  CHECK(rules[0].interface_names == std::vector<std::string>{"home*", "eth[01]"});
  CHECK(rules[0].dns_search_domains.size() == 2);
  CHECK(rules[0].dns_servers.size() == 2);
  CHECK(rules[0].probe_url == "http://10.0.0.1/ok");
  CHECK(rules[1].interface_type == ondemand::IfType::wifi);
  CHECK(rules[1].required_url == "http://[fd00::1]:8080/health");
  CHECK_FALSE(rules[2].interface_type);
  // The effective config parses back to the same rules.
  auto again = parse_client(to_toml(*r), "c.toml");
  REQUIRE(again.ok());
  CHECK(again->on_demand == rules);
}

TEST_CASE("bad on_demand rules name file, line and key", "[config][on_demand]") {
  CHECK(error_of("[[on_demand]]\ninterface_type = \"wifi\"\n").find("on_demand[0].action") != std::string::npos);
  CHECK(error_of("[[on_demand]]\naction = \"maybe\"\n").find("c.toml:7:10: on_demand[0].action: 'maybe' is not an action") == 0);
  CHECK(error_of("[[on_demand]]\naction = \"connect\"\ninterface_type = \"tokenring\"\n").find("interface type") != std::string::npos);
  CHECK(error_of("[[on_demand]]\naction = \"connect\"\ninterface_name = [\"a/b\"]\n").find("interface_name[0]") != std::string::npos);
  CHECK(error_of("[[on_demand]]\naction = \"connect\"\ndns_search_domains = [\"-x\"]\n").find("dns_search_domains[0]") != std::string::npos);
  CHECK(error_of("[[on_demand]]\naction = \"connect\"\ndns_servers = [\"nope\"]\n").find("dns_servers[0]") != std::string::npos);
  CHECK(error_of("[[on_demand]]\naction = \"connect\"\nprobe_url = \"https://x/\"\n").find("probe_url") != std::string::npos);
  CHECK(error_of("[[on_demand]]\naction = \"connect\"\nrequired_url = \"http://x/\"\n").find("only an evaluate rule") != std::string::npos);
  CHECK(error_of("[[on_demand]]\naction = \"connect\"\nssid = \"x\"\n").find("on_demand[0].ssid") != std::string::npos);
  std::string many;
  for (int i = 0; i < 65; ++i) many += "[[on_demand]]\naction = \"ignore\"\n";
  CHECK_FALSE(error_of(many).empty());
}
