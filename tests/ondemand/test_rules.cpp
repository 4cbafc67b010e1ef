#include <catch2/catch.hpp>
#include <linux/if_arp.h>

#include "ondemand/rules.hpp"

using namespace ptun;
using namespace ptun::ondemand;

namespace {

Rule rule(Action a) {
  Rule r;
  r.action = a;
  return r;
}

Network eth(const std::string& name) {
  Network n;
  n.interface = name;
  n.type = IfType::ethernet;
  return n;
}

}  // namespace

TEST_CASE("first matching rule wins, in order", "[ondemand]") {
  Rule trusted = rule(Action::disconnect);
  trusted.interface_names = {"home*"};
  Rule wifi = rule(Action::connect);
  wifi.interface_type = IfType::wifi;
  Rule any_down = rule(Action::disconnect);
  std::vector<Rule> rules{trusted, wifi, any_down};

  Network home_wifi{"home0", IfType::wifi, {}, {}};
  Network cafe_wifi{"wlan0", IfType::wifi, {}, {}};
  CHECK(evaluate(rules, home_wifi, {}).kind == Decision::disconnect);
  CHECK(evaluate(rules, home_wifi, {}).rule == 0);
  CHECK(evaluate(rules, cafe_wifi, {}).kind == Decision::connect);
  CHECK(evaluate(rules, cafe_wifi, {}).rule == 1);
  CHECK(evaluate(rules, eth("eth0"), {}).rule == 2);
  // Swapping the order changes the outcome for the network both rules match.
  std::vector<Rule> swapped{wifi, trusted, any_down};
  CHECK(evaluate(swapped, home_wifi, {}).kind == Decision::connect);
}

TEST_CASE("no rule matching keeps the current state, ignore keeps too", "[ondemand]") {
  Rule r = rule(Action::connect);
  r.interface_type = IfType::cellular;
  CHECK(evaluate({r}, eth("eth0"), {}).kind == Decision::keep);
  CHECK(evaluate({r}, eth("eth0"), {}).rule == -1);
  CHECK(evaluate({}, eth("eth0"), {}).kind == Decision::keep);
  Rule ig = rule(Action::ignore);
  auto d = evaluate({ig, rule(Action::connect)}, eth("eth0"), {});
  CHECK(d.kind == Decision::keep);
  CHECK(d.rule == 0);
}

TEST_CASE("interface type none matches when there is no path", "[ondemand]") {
  Rule none = rule(Action::disconnect);
  none.interface_type = IfType::none;
  std::vector<Rule> rules{none, rule(Action::connect)};
  CHECK(evaluate(rules, Network{}, {}).kind == Decision::disconnect);
  CHECK(evaluate(rules, eth("eth0"), {}).kind == Decision::connect);
  // A name glob never matches an absent interface, even "*".
  Rule star = rule(Action::connect);
  star.interface_names = {"*"};
  CHECK(evaluate({star}, Network{}, {}).kind == Decision::keep);
}

TEST_CASE("all conditions of a rule must hold", "[ondemand]") {
  Rule r = rule(Action::disconnect);
  r.interface_type = IfType::ethernet;
  r.dns_search_domains = {"*.corp.example"};
  r.dns_servers = {*IpAddr::parse("10.0.0.53")};
  Network n = eth("eth0");
  CHECK(evaluate({r}, n, {}).kind == Decision::keep);
  n.search_domains = {"eng.corp.example"};
  CHECK(evaluate({r}, n, {}).kind == Decision::keep);   // DNS server still missing
  n.dns_servers = {*IpAddr::parse("1.1.1.1"), *IpAddr::parse("10.0.0.53")};
  CHECK(evaluate({r}, n, {}).kind == Decision::disconnect);
  n.type = IfType::wifi;
  CHECK(evaluate({r}, n, {}).kind == Decision::keep);
}

TEST_CASE("probe url: asked for, then matched on its result", "[ondemand]") {
  Rule inside = rule(Action::disconnect);
  inside.probe_url = "http://intranet.example/ok";
  std::vector<Rule> rules{inside, rule(Action::connect)};
  auto d = evaluate(rules, eth("eth0"), {});
  REQUIRE(d.kind == Decision::probe);
  CHECK(d.url == "http://intranet.example/ok");
  CHECK(evaluate(rules, eth("eth0"), {{d.url, true}}).kind == Decision::disconnect);
  auto miss = evaluate(rules, eth("eth0"), {{d.url, false}});
  CHECK(miss.kind == Decision::connect);
  CHECK(miss.rule == 1);
  // A rule whose other conditions fail never asks for its probe.
  rules[0].interface_type = IfType::wifi;
  CHECK(evaluate(rules, eth("eth0"), {}).kind == Decision::connect);
}

TEST_CASE("evaluate connects only if the required resource is unreachable", "[ondemand]") {
  Rule ev = rule(Action::evaluate);
  ev.required_url = "http://10.1.2.3/health";
  auto d = evaluate({ev}, eth("eth0"), {});
  REQUIRE(d.kind == Decision::probe);
  CHECK(d.url == ev.required_url);
  CHECK(evaluate({ev}, eth("eth0"), {{ev.required_url, false}}).kind == Decision::connect);
  CHECK(evaluate({ev}, eth("eth0"), {{ev.required_url, true}}).kind == Decision::disconnect);
  Rule bare = rule(Action::evaluate);
  CHECK(evaluate({bare}, eth("eth0"), {}).kind == Decision::connect);
}

TEST_CASE("domain patterns", "[ondemand]") {
  CHECK(domain_matches("example.com", "EXAMPLE.com."));
  CHECK_FALSE(domain_matches("example.com", "a.example.com"));
  CHECK(domain_matches("*.example.com", "example.com"));
  CHECK(domain_matches("*.example.com", "a.b.example.com"));
  CHECK_FALSE(domain_matches("*.example.com", "badexample.com"));
  CHECK_FALSE(domain_matches("", "x"));
}

TEST_CASE("resolv.conf parsing", "[ondemand]") {
  std::vector<IpAddr> servers;
  std::vector<std::string> search;
  parse_resolv_conf("# comment\nnameserver 10.0.0.53\nnameserver fe80::1%eth0\nnameserver bogus\n"
                    "search old.example\nsearch Corp.Example. lab.example # trailing\n; x\noptions ndots:2\n",
                    &servers, &search);
  REQUIRE(servers.size() == 2);
  CHECK(servers[0] == *IpAddr::parse("10.0.0.53"));
  CHECK(servers[1] == *IpAddr::parse("fe80::1"));
  CHECK(search == std::vector<std::string>{"corp.example", "lab.example"});
}

TEST_CASE("interface classification", "[ondemand]") {
  CHECK(classify_interface(ARPHRD_ETHER, "", "eth0") == IfType::ethernet);
  CHECK(classify_interface(ARPHRD_ETHER, "wlan", "wlp2s0") == IfType::wifi);
  CHECK(classify_interface(ARPHRD_NONE, "wwan", "wwan0") == IfType::cellular);
  CHECK(classify_interface(ARPHRD_NONE, "", "rmnet_data0") == IfType::cellular);
  CHECK(classify_interface(ARPHRD_LOOPBACK, "", "lo") == IfType::loopback);
  CHECK(classify_interface(ARPHRD_NONE, "", "tun0") == IfType::other);
}

TEST_CASE("action and type names round-trip", "[ondemand]") {
  for (Action a : {Action::connect, Action::disconnect, Action::evaluate, Action::ignore})
    CHECK(parse_action(to_string(a)) == a);
  CHECK_FALSE(parse_action("maybe"));
  std::optional<IfType> t = IfType::wifi;
  CHECK(parse_if_type("any", &t));
  CHECK_FALSE(t);
  CHECK(parse_if_type("cellular", &t));
  CHECK(t == IfType::cellular);
  CHECK_FALSE(parse_if_type("token-ring", &t));
}

TEST_CASE("http urls for probes", "[ondemand]") {
  HttpUrl u;
  REQUIRE(parse_http_url("http://10.1.2.3/health?x=1", &u));
  CHECK(u.host == "10.1.2.3");
  CHECK(u.port == 80);
  CHECK(u.path == "/health?x=1");
  REQUIRE(parse_http_url("http://[fd00::1]:8080", &u));
  CHECK(u.host == "fd00::1");
  CHECK(u.port == 8080);
  CHECK(u.path == "/");
  REQUIRE(parse_http_url("http://intranet.example:81/", &u));
  CHECK(u.host == "intranet.example");
  CHECK(u.port == 81);
  for (const char* bad : {"https://x/", "http://", "http://:80/", "http://x:/", "http://x:0/", "http://x:65536/",
                          "http://x:8a/", "http://[fd00::1/", "http://[nothex]/", "http://a b/", "ftp://x",
                          "http://x/a b"})
    CHECK_FALSE(parse_http_url(bad, &u));
}
