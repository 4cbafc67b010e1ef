// What a reload may change (config/client_reload.cpp's table) and what each change takes.
#include <catch2/catch.hpp>

#include <algorithm>

#include "config/client_reload.hpp"

using namespace ptun;
using namespace ptun::config;

namespace {

ClientConfig base() {
  auto r = parse_client(
      "server = \"vpn.example.com:4433\"\nserver_name = \"vpn.example.com\"\n"
      "ca = \"/etc/ptun/ca.pem\"\ncert = \"/etc/ptun/c.pem\"\nkey = \"/etc/ptun/c.key\"\n",
      "c.toml");
  REQUIRE(r);
  return *r;
}

}  // namespace

TEST_CASE("reload: nothing changed, nothing to do", "[config][reload]") {
  auto plan = plan_reload(base(), base());
  REQUIRE(plan);
  CHECK(plan->effects == 0);
  CHECK(plan->changed.empty());
  CHECK(plan->groups().empty());
}

TEST_CASE("reload: each field of the table and what it takes", "[config][reload]") {
  ClientConfig a = base();
  SECTION("servers: a new session and a new list") {
    ClientConfig b = a;
    b.servers.push_back(b.servers.front());
    b.servers.back().port = 443;
    auto plan = plan_reload(a, b);
    REQUIRE(plan);
    CHECK(plan->has(reload_new_session));
    CHECK(plan->has(reload_new_servers));
    CHECK(plan->changed == std::vector<std::string>{"server"});
    CHECK(plan->groups() == std::vector<std::string>{"server/credentials"});
  }
  SECTION("credentials: a new session, the same list") {
    ClientConfig b = a;
    b.cert = "/etc/ptun/new.pem";
    b.key = "/etc/ptun/new.key";
    auto plan = plan_reload(a, b);
    REQUIRE(plan);
    CHECK(plan->has(reload_new_session));
    CHECK_FALSE(plan->has(reload_new_servers));
    CHECK(plan->changed == std::vector<std::string>{"cert", "key"});
  }
  SECTION("routes, DNS and MTU: settings applied again, the session kept") {
    ClientConfig b = a;
    b.tunnel.mtu = 1300;
    b.dns.servers.push_back(*IpAddr::parse("192.0.2.53"));
    auto plan = plan_reload(a, b);
    REQUIRE(plan);
    CHECK(plan->effects == reload_host_settings);
    CHECK(plan->changed == std::vector<std::string>{"[dns]", "tunnel.mtu"});
    CHECK(plan->groups() == std::vector<std::string>{"routes/dns/mtu"});
  }
  SECTION("log level, backoff and on-demand rules") {
    ClientConfig b = a;
    b.log_level = "debug";
    b.reconnect_max_secs = a.reconnect_max_secs + 1;
    b.on_demand.push_back(ondemand::Rule{});
    auto plan = plan_reload(a, b);
    REQUIRE(plan);
    CHECK(plan->effects == (reload_log_level | reload_reconnect | reload_on_demand));
    CHECK(plan->groups() == std::vector<std::string>{"log_level", "reconnect_max_secs", "on_demand"});
  }
  SECTION("the file's own path changes nothing") {
    ClientConfig b = a;
    b.path = "/elsewhere/c.toml";
    auto plan = plan_reload(a, b);
    REQUIRE(plan);
    CHECK(plan->effects == 0);
    CHECK(plan->changed.empty());
  }
}

TEST_CASE("reload: a field outside the table refuses the whole reload", "[config][reload]") {
  ClientConfig a = base();
  for (int which = 0; which < 3; ++which) {
    ClientConfig b = a;
    b.log_level = "debug";   // reloadable, but not alone
    if (which == 0) b.control_socket = "/run/other.sock";
    if (which == 1) b.mode = "userspace";
    if (which == 2) b.tunnel.interface = "other0";
    auto plan = plan_reload(a, b);
    REQUIRE_FALSE(plan);
    CHECK(plan.error().code == Errc::unsupported);
    CHECK(plan.error().message.find("can change without a restart") != std::string::npos);
  }
}

TEST_CASE("reload: the reloadable fields, as messages name them", "[config][reload]") {
  auto f = reloadable_fields();
  CHECK(f.front() == "server");
  CHECK(std::find(f.begin(), f.end(), "tunnel.mtu") != f.end());
  CHECK(std::find(f.begin(), f.end(), "(the file's path)") == f.end());
}
