// [[app_rule]] and [flows] in the client's file: parsing, validation, round trip through to_toml.
#include <catch2/catch.hpp>

#include "config/config.hpp"

using namespace ptun;
using namespace ptun::config;

namespace {

std::string doc(const std::string& rest) {
  return "server = \"vpn.example.com:4433\"\nserver_name = \"vpn.example.com\"\n"
         "ca = \"/etc/ptun/ca.pem\"\ncert = \"/etc/ptun/c.pem\"\nkey = \"/etc/ptun/c.key\"\n" + rest;
}
std::string error_of(const std::string& rest) {
  auto r = parse_client(doc(rest), "c.toml");
  return r ? "" : r.error().message;
}

}  // namespace

TEST_CASE("app rules parse with every selector and round-trip", "[config][apps]") {
  auto r = parse_client(doc("[flows]\nmax_flows = 1000\n"
                            "[[app_rule]]\nname = \"browser\"\nmode = \"only\"\nuid = 1001\n"
                            "cgroup = \"/user.slice/firefox.scope/\"\npath = \"/usr/bin/firefox\"\n"
                            "[[app_rule]]\nname = \"ssh\"\nmode = \"only\"\n"),
                        "c.toml");
  REQUIRE(r.ok());
  REQUIRE(r->app_rules.size() == 2);
  const AppRule& a = r->app_rules[0];
  CHECK(a.name == "browser");
  CHECK(a.mode == "only");
  CHECK(a.uid == 1001u);
  CHECK(a.cgroup == "/user.slice/firefox.scope");
  CHECK(a.path == "/usr/bin/firefox");
  CHECK_FALSE(r->app_rules[1].uid);
  CHECK(r->flows.max_flows == 1000);
  CHECK(r->flows.classify);
  auto again = parse_client(to_toml(*r), "c.toml");
  REQUIRE(again.ok());
  CHECK(again->app_rules == r->app_rules);
  CHECK(again->flows == r->flows);
}

TEST_CASE("defaults: no rules, classification on", "[config][apps]") {
  auto r = parse_client(doc(""), "c.toml");
  REQUIRE(r.ok());
  CHECK(r->app_rules.empty());
  CHECK(r->flows.classify);
  CHECK(r->flows.max_flows == 8192);
}

TEST_CASE("bad app rules are refused with file:line:col and the key", "[config][apps]") {
  CHECK(error_of("[[app_rule]]\nmode = \"only\"\n").find("app_rule[0]") != std::string::npos);
  CHECK(error_of("[[app_rule]]\nname = \"a b\"\nmode = \"only\"\n").find("app_rule[0].name") != std::string::npos);
  CHECK(error_of("[[app_rule]]\nname = \"a\"\nmode = \"sometimes\"\n").find("not a mode") != std::string::npos);
  CHECK(error_of("[[app_rule]]\nname = \"a\"\nmode = \"only\"\n[[app_rule]]\nname = \"a\"\nmode = \"only\"\n")
            .find("duplicate") != std::string::npos);
  CHECK(error_of("[[app_rule]]\nname = \"a\"\nmode = \"only\"\n[[app_rule]]\nname = \"b\"\nmode = \"except\"\n")
            .find(":11:8: app_rule[1].mode: 'except' differs") != std::string::npos);
  CHECK(error_of("[[app_rule]]\nname = \"a\"\nmode = \"only\"\nuid = -1\n").find("out of range") != std::string::npos);
  CHECK(error_of("[[app_rule]]\nname = \"a\"\nmode = \"only\"\nuid = 4294967295\n").find("out of range") != std::string::npos);
  CHECK(error_of("[[app_rule]]\nname = \"a\"\nmode = \"only\"\ncgroup = \"user.slice\"\n").find("absolute") != std::string::npos);
  CHECK(error_of("[[app_rule]]\nname = \"a\"\nmode = \"only\"\ncgroup = \"/a/../b\"\n").find("'..'") != std::string::npos);
  CHECK(error_of("[[app_rule]]\nname = \"a\"\nmode = \"only\"\ncgroup = \"/\"\n").find("every process") != std::string::npos);
  CHECK(error_of("[[app_rule]]\nname = \"a\"\nmode = \"only\"\npath = \"firefox\"\n").find("absolute") != std::string::npos);
  CHECK(error_of("[[app_rule]]\nname = \"a\"\nmode = \"only\"\nexe = \"/bin/x\"\n").find("app_rule[0].exe") != std::string::npos);
  CHECK(error_of("[flows]\nmax_flows = 1\n").find("flows.max_flows") != std::string::npos);
  CHECK(error_of("[flows]\nclassify = false\n[[app_rule]]\nname = \"a\"\nmode = \"only\"\n")
            .find("cannot be combined") != std::string::npos);
  CHECK(error_of("[flows]\nclassify = false\n") == "");
}
