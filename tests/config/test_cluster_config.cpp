// [cluster] (docs/cluster.md): keys, ranges, errors with file:line:col and key, round trip.
#include <catch2/catch.hpp>

#include "config/config.hpp"

using namespace ptun;
using namespace ptun::config;

namespace {

std::string doc(const std::string& cluster) {
  return "listen = [\"0.0.0.0:4433\"]\n"
         "ca = \"/etc/ptun/ca.pem\"\ncert = \"/etc/ptun/s.pem\"\nkey = \"/etc/ptun/s.key\"\n"
         "[tunnel]\nipv4_pool = \"10.99.0.0/24\"\n"
         "[cluster]\n" + cluster;
}

std::string error_of(const std::string& text) {
  auto r = parse_server(text, "s.toml");
  return r ? "" : r.error().message;
}

}  // namespace

#if PTUN_CLUSTER
TEST_CASE("[cluster] with its defaults, and back through to_toml", "[config][cluster]") {
  auto c = parse_server(doc("endpoints = [\"http://10.0.0.1:2379\", \"https://etcd2:2379\"]\nname = \"vpn1\"\n"), "s.toml");
  REQUIRE(c.ok());
  REQUIRE(c->cluster);
  CHECK(c->cluster->endpoints.size() == 2);
  CHECK(c->cluster->name == "vpn1");
  CHECK(c->cluster->prefix == "/ptun");
  CHECK(c->cluster->grace_secs == 3600);
  CHECK(c->cluster->timeout_ms == 2000);
  CHECK(c->cluster->session_ttl_secs == 10);
  CHECK(c->cluster->poll_ms == 1000);
  auto again = parse_server(to_toml(*c), "s.toml");
  REQUIRE(again.ok());
  CHECK(*again == *c);
  auto tls = parse_server(doc("endpoints = [\"https://e:2379\"]\nname = \"vpn1\"\nprefix = \"/corp/vpn\"\n"
                              "grace_secs = 10\ntimeout_ms = 60000\nsession_ttl_secs = 3\npoll_ms = 250\nca = \"ca.pem\"\ncert = \"c.pem\"\nkey = \"c.key\"\n"),
                          "/etc/ptun/s.toml");
  REQUIRE(tls.ok());
  CHECK(tls->cluster->ca == "/etc/ptun/ca.pem");   // relative to the config file
  CHECK(tls->cluster->prefix == "/corp/vpn");
  CHECK(tls->cluster->session_ttl_secs == 3);
  CHECK(tls->cluster->poll_ms == 250);
  auto tls_again = parse_server(to_toml(*tls), "/etc/ptun/s.toml");
  REQUIRE(tls_again.ok());
  CHECK(tls_again->cluster->poll_ms == 250);
  CHECK_FALSE(c->cluster->backbone_v4);
  auto bb = parse_server(doc("endpoints = [\"http://e:2379\"]\nname = \"vpn1\"\nbackbone = [\"fd02::11\", \"198.18.2.11\"]\n"), "s.toml");
  REQUIRE(bb.ok());
  CHECK(bb->cluster->backbone_v4 == IpAddr::parse("198.18.2.11").value());
  CHECK(bb->cluster->backbone_v6 == IpAddr::parse("fd02::11").value());
  auto bb_again = parse_server(to_toml(*bb), "s.toml");
  REQUIRE(bb_again.ok());
  CHECK(*bb_again == *bb);
  // No [cluster]: a single server, as before.
  CHECK_FALSE(parse_server(doc("").substr(0, doc("").find("[cluster]")), "s.toml")->cluster);
}

TEST_CASE("invalid [cluster] keys name file, line, column and key", "[config][cluster]") {
  const std::string ep = "endpoints = [\"http://10.0.0.1:2379\"]\n";
  const std::pair<std::string, std::string> cases[] = {
      {"name = \"vpn1\"\n", "s.toml:7:1: cluster: endpoints is required"},
      {ep, "cluster.name: required key is missing"},
      {"endpoints = [\"10.0.0.1:2379\"]\nname = \"a\"\n", "s.toml:8:14: cluster.endpoints[0]: '10.0.0.1:2379' is not an http:// or https:// URL"},
      {"endpoints = [\"http://e:2379/v3\"]\nname = \"a\"\n", "cluster.endpoints[0]: 'http://e:2379/v3': give scheme://host:port only"},
      {"endpoints = [\"http://e:1\", \"http://e:1\"]\nname = \"a\"\n", "cluster.endpoints[1]: duplicate endpoint"},
      {ep + "name = \"a\"\nprefix = \"ptun\"\n", "cluster.prefix: 'ptun' must start with '/'"},
      {ep + "name = \"a\"\nprefix = \"/ptun/\"\n", "cluster.prefix: '/ptun/' must start with '/', not end with '/'"},
      {ep + "name = \"a\"\nprefix = \"/p t\"\n", "cluster.prefix: '/p t' may hold only"},
      {ep + "name = \"a\"\ngrace_secs = 9\n", "cluster.grace_secs: 9 is out of range 10..2592000"},
      {ep + "name = \"a\"\ntimeout_ms = 99\n", "cluster.timeout_ms: 99 is out of range 100..60000"},
      {ep + "name = \"a\"\nsession_ttl_secs = 2\n", "cluster.session_ttl_secs: 2 is out of range 3..300"},
      {ep + "name = \"a\"\npoll_ms = 99\n", "cluster.poll_ms: 99 is out of range 100..60000"},
      {ep + "name = \"a\"\ncert = \"/c.pem\"\n", "cluster.cert: cert and key go together"},
      {ep + "name = \"a\"\nbackbone = [\"x\"]\n", "cluster.backbone[0]: 'x' is not an IP address"},
      {ep + "name = \"a\"\nbackbone = [\"10.0.0.1\", \"10.0.0.2\"]\n", "cluster.backbone[1]: '10.0.0.2': one backbone address per family"},
      {ep + "name = \"a\"\nbackbone = [\"10.0.0.1\", \"fd00::1\", \"fd00::2\"]\n", "cluster.backbone"},
      {ep + "name = \"a\"\nbackbon = [\"10.0.0.1\"]\n", "cluster.backbon: unknown key"},
  };
  for (const auto& [text, want] : cases) {
    INFO(text);
    CHECK_THAT(error_of(doc(text)), Catch::Contains(want));
  }
}
#else
TEST_CASE("a build without cluster support refuses [cluster], naming the option", "[config][cluster]") {
  CHECK_THAT(error_of(doc("endpoints = [\"http://10.0.0.1:2379\"]\nname = \"vpn1\"\n")),
             Catch::Contains("s.toml:7:1: cluster: this ptun was built without cluster support (cmake -DPTUN_CLUSTER=ON"));
}
#endif
