// The least-privilege keys (both roles) and the server's admission bounds.
#include <catch2/catch.hpp>

#include "config/config.hpp"

using namespace ptun;
using namespace ptun::config;

namespace {

std::string server_doc(const std::string& top) {
  return "listen = [\"0.0.0.0:4433\"]\n"
         "ca = \"/etc/ptun/ca.pem\"\ncert = \"/etc/ptun/s.pem\"\nkey = \"/etc/ptun/s.key\"\n" + top +
         "[tunnel]\nipv4_pool = \"10.99.0.0/24\"\n";
}
std::string client_doc(const std::string& top) {
  return "server = \"vpn.example.com:4433\"\nserver_name = \"vpn.example.com\"\n"
         "ca = \"/etc/ptun/ca.pem\"\ncert = \"/etc/ptun/c.pem\"\nkey = \"/etc/ptun/c.key\"\n" + top;
}
std::string server_error(const std::string& top) {
  auto r = parse_server(server_doc(top), "s.toml");
  return r ? "" : r.error().message;
}

}  // namespace

TEST_CASE("privilege keys default to no drop and CAP_NET_ADMIN", "[config][hardening]") {
  auto s = parse_server(server_doc(""), "s.toml");
  REQUIRE(s.ok());
  CHECK(s->user.empty());
  CHECK(s->group.empty());
  CHECK(s->keep_capabilities == std::vector<std::string>{"CAP_NET_ADMIN"});
  CHECK(s->max_half_open == 256);
  CHECK(s->max_half_open_per_source == 16);
  CHECK(s->handshake_timeout_secs == 10);
  CHECK(s->handshake_rate_per_source == 20);
  auto c = parse_client(client_doc(""), "c.toml");
  REQUIRE(c.ok());
  CHECK(c->user.empty());
  CHECK(c->keep_capabilities == std::vector<std::string>{"CAP_NET_ADMIN"});
}

TEST_CASE("privilege keys are read, validated and printed back", "[config][hardening]") {
  std::string top = "user = \"ptun\"\ngroup = \"nogroup\"\nkeep_capabilities = [\"CAP_NET_ADMIN\", \"CAP_NET_RAW\"]\n"
                    "max_half_open = 32\nmax_half_open_per_source = 0\nhandshake_timeout_secs = 5\nhandshake_rate_per_source = 0\n";
  auto s = parse_server(server_doc(top), "s.toml");
  REQUIRE(s.ok());
  CHECK(s->user == "ptun");
  CHECK(s->group == "nogroup");
  CHECK(s->keep_capabilities == std::vector<std::string>{"CAP_NET_ADMIN", "CAP_NET_RAW"});
  CHECK(s->max_half_open == 32);
  CHECK(s->max_half_open_per_source == 0);
  CHECK(s->handshake_timeout_secs == 5);
  CHECK(s->handshake_rate_per_source == 0);
  auto again = parse_server(to_toml(*s), "s.toml");
  REQUIRE(again.ok());
  again->path = s->path;
  CHECK(*again == *s);

  auto c = parse_client(client_doc("user = \"nobody\"\nkeep_capabilities = []\n"), "c.toml");
  REQUIRE(c.ok());
  CHECK(c->user == "nobody");
  CHECK(c->keep_capabilities.empty());
  auto c2 = parse_client(to_toml(*c), "c.toml");
  REQUIRE(c2.ok());
  c2->path = c->path;
  CHECK(*c2 == *c);
}

TEST_CASE("invalid privilege and admission keys are errors with position", "[config][hardening]") {
  CHECK_THAT(server_error("user = \"-x\"\n"), Catch::Contains("s.toml:5:8: user:"));
  CHECK_THAT(server_error("user = \"a b\"\n"), Catch::Contains("not a valid"));
  CHECK_THAT(server_error("group = \"ptun\"\n"), Catch::Contains("group: has no effect without user"));
  CHECK_THAT(server_error("user = \"ptun\"\nkeep_capabilities = [\"CAP_SYS_ADMIN\"]\n"),
             Catch::Contains("keep_capabilities[0]: 'CAP_SYS_ADMIN' is not a capability"));
  CHECK_THAT(server_error("keep_capabilities = [\"CAP_NET_RAW\", \"CAP_NET_RAW\"]\n"),
             Catch::Contains("duplicate entry"));
  CHECK_THAT(server_error("keep_capabilities = \"CAP_NET_ADMIN\"\n"), Catch::Contains("keep_capabilities"));
  CHECK_THAT(server_error("max_half_open = 0\n"), Catch::Contains("max_half_open"));
  CHECK_THAT(server_error("max_half_open_per_source = 100001\n"), Catch::Contains("s.toml:5:28: max_half_open_per_source"));
  CHECK_THAT(server_error("handshake_timeout_secs = 121\n"), Catch::Contains("handshake_timeout_secs"));
  CHECK_THAT(server_error("handshake_rate_per_source = 100001\n"), Catch::Contains("handshake_rate_per_source"));
  // Server-only keys are unknown to the client.
  auto c = parse_client(client_doc("max_half_open = 3\n"), "c.toml");
  REQUIRE_FALSE(c.ok());
  CHECK_THAT(c.error().message, Catch::Contains("max_half_open"));
}
