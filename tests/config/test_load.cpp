// Files on disk, the example configs in conf/, role detection, path resolution and the
// to_toml round trip.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/limits.hpp"
#include "config/config.hpp"

using namespace ptun;
using namespace ptun::config;
namespace fs = std::filesystem;

namespace {

const fs::path kConfDir = fs::path(__FILE__).parent_path() / ".." / ".." / "conf";

// A scratch directory removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/ptun-config-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name, std::ios::binary) << text;
    return (path / name).string();
  }
};

const char* kServer =
    "listen = [\"0.0.0.0:4433\"]\nca = \"ca.pem\"\ncert = \"certs/s.pem\"\nkey = \"/abs/s.key\"\n"
    "control_socket = \"run/s.sock\"\n[tunnel]\nipv4_pool = \"10.99.0.0/24\"\n";

}  // namespace

TEST_CASE("the example configs in conf/ load", "[config][load]") {
  auto s = load_server((kConfDir / "server.toml").string(), false);
  INFO((s ? "" : s.error().message));
  REQUIRE(s.ok());
  CHECK(s->listen.size() == 2);
  CHECK(s->peers.size() == 2);
  CHECK(s->tunnel.masquerade);
  // The names `ptun pki init/issue` write; no uplink name guessed; DNS that answers: the
  // server's own tunnel addresses, with the DNS proxy on (auto) to answer there.
  CHECK(s->ca == "/etc/ptun/pki/ca.crt");
  CHECK(s->cert == "/etc/ptun/pki/vpn.example.com.crt");
  CHECK(s->tunnel.masquerade_interfaces.empty());
  CHECK(s->push.dns_servers == server_addresses(*s));
  CHECK(s->tunnel.dns_proxy == "auto");
  CHECK(dns_proxy_active(*s));
  // The userspace example pushes public resolvers: no TUN, so no proxy.
  auto us = load_server((kConfDir / "server-userspace.toml").string(), false);
  REQUIRE(us.ok());
  CHECK_FALSE(dns_proxy_active(*us));

  for (const char* name : {"client.toml", "router.toml"}) {
    auto c = load_client((kConfDir / name).string(), false);
    INFO(name << ": " << (c ? "" : c.error().message));
    REQUIRE(c.ok());
    REQUIRE(c->servers.size() == 1);
    CHECK(c->servers[0].host == "198.18.0.10");
    CHECK(c->server_name == "vpn.example.com");
  }
  auto router = load_client((kConfDir / "router.toml").string(), false);
  REQUIRE(router.ok());
  CHECK(router->protocol.include_all_networks);
  CHECK(router->tunnel.mtu == 1380);
  CHECK(router->dns.backend == "dnsmasq");
  CHECK(router->dns.dnsmasq_conf_dir == "/tmp/dnsmasq.d");

  CHECK(*detect_role_file((kConfDir / "server.toml").string()) == Role::server);
  CHECK(*detect_role_file((kConfDir / "client.toml").string()) == Role::client);
  CHECK(*detect_role_file((kConfDir / "router.toml").string()) == Role::client);
}

TEST_CASE("detect_role", "[config][load]") {
  CHECK(*detect_role("listen = []\n", "x.toml") == Role::server);
  CHECK(*detect_role("server = \"a:1\"\n", "x.toml") == Role::client);
  auto both = detect_role("listen = []\nserver = \"a\"\n", "x.toml");
  REQUIRE_FALSE(both);
  CHECK_THAT(both.error().message, Catch::StartsWith("x.toml:1:1: both"));
  auto neither = detect_role("[tunnel]\nmtu = 1400\n", "x.toml");
  REQUIRE_FALSE(neither);
  CHECK_THAT(neither.error().message, Catch::StartsWith("x.toml:1:1: neither"));
  // A key named server inside a table does not count.
  CHECK_FALSE(detect_role("[a]\nserver = 1\n", "x.toml"));
  auto syntax = detect_role("listen = \n", "x.toml");
  REQUIRE_FALSE(syntax);
  CHECK_THAT(syntax.error().message, Catch::StartsWith("x.toml:1:"));
}

TEST_CASE("relative paths resolve against the config file's directory", "[config][load]") {
  TempDir dir;
  std::string path = dir.write("server.toml", kServer);
  auto s = load_server(path, false);
  REQUIRE(s.ok());
  CHECK(s->path == path);
  CHECK(s->ca == (dir.path / "ca.pem").string());
  CHECK(s->cert == (dir.path / "certs/s.pem").string());
  CHECK(s->key == "/abs/s.key");
  CHECK(s->control_socket == (dir.path / "run/s.sock").string());
  CHECK(s->state_dir == "/var/lib/ptun/server");

  // From text, relative to the name's directory (none here: paths stay relative).
  auto t = parse_server(kServer, "server.toml");
  REQUIRE(t.ok());
  CHECK(t->ca == "ca.pem");
  auto u = parse_server(kServer, "/etc/ptun/server.toml");
  REQUIRE(u.ok());
  CHECK(u->cert == "/etc/ptun/certs/s.pem");
}

TEST_CASE("check_files requires readable regular files", "[config][load]") {
  TempDir dir;
  std::string path = dir.write("server.toml", std::string(kServer).replace(
                                                  std::string(kServer).find("/abs/s.key"), 10,
                                                  "s.key"));
  auto missing = load_server(path, true);
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message, Catch::Contains(path + ":2:6: ca: '"));
  CHECK_THAT(missing.error().message, Catch::Contains("No such file or directory"));

  dir.write("ca.pem", "x");
  fs::create_directories(dir.path / "certs" / "s.pem");  // a directory, not a file
  auto not_file = load_server(path, true);
  REQUIRE_FALSE(not_file);
  CHECK_THAT(not_file.error().message, Catch::Contains("cert: '"));
  CHECK_THAT(not_file.error().message, Catch::Contains("is not a regular file"));

  fs::remove(dir.path / "certs" / "s.pem");
  dir.write("certs/s.pem", "x");
  dir.write("s.key", "x");
  auto good = load_server(path, true);
  INFO((good ? "" : good.error().message));
  CHECK(good.ok());

  if (::geteuid() != 0) {  // root reads anything
    ::chmod((dir.path / "s.key").c_str(), 0);
    auto unreadable = load_server(path, true);
    REQUIRE_FALSE(unreadable);
    CHECK_THAT(unreadable.error().message, Catch::Contains("key: '"));
    CHECK_THAT(unreadable.error().message, Catch::Contains("Permission denied"));
  }
}

TEST_CASE("load reports unreadable and oversized files", "[config][load]") {
  TempDir dir;
  auto none = load_client((dir.path / "nope.toml").string());
  REQUIRE_FALSE(none);
  CHECK(none.error().code == Errc::io);
  std::string big = dir.write("big.toml", std::string(limits::kMaxConfigBytes + 10, '#'));
  auto r = load_client(big);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::invalid_argument);
  CHECK_THAT(r.error().message, Catch::StartsWith(big + ":1:1: file is larger than"));
}

TEST_CASE("to_toml parses back to the same struct", "[config][emit]") {
  SECTION("example files") {
    for (const char* name : {"server.toml", "server-userspace.toml"}) {
      auto s = load_server((kConfDir / name).string(), false);
      REQUIRE(s.ok());
      auto s2 = parse_server(to_toml(*s), s->path);
      INFO(to_toml(*s) << (s2 ? "" : s2.error().message));
      REQUIRE(s2.ok());
      CHECK(*s2 == *s);
    }
    for (const char* name : {"client.toml", "router.toml"}) {
      auto c = load_client((kConfDir / name).string(), false);
      REQUIRE(c.ok());
      auto c2 = parse_client(to_toml(*c), c->path);
      INFO(to_toml(*c) << (c2 ? "" : c2.error().message));
      REQUIRE(c2.ok());
      CHECK(*c2 == *c);
    }
  }
  SECTION("every optional field set, odd strings") {
    std::string text =
        "listen = [\"[2001:db8::1]:1\"]\nca = \"/p/with \\\"quote\\\" and \\\\ \\t\\u00e9\"\n"
        "cert = \"/c\"\nkey = \"/k\"\ncontrol_group = \"ptun\"\nmetrics_listen = \"[::1]:9\"\n"
        "log_level = \"debug\"\nmax_sessions = 7\n"
        "[tunnel]\ninterface = \"t0\"\nmtu = 1300\nipv4_pool = \"10.0.0.0/30\"\n"
        "ipv6_pool = \"fd00::/126\"\nmasquerade = true\nmasquerade_interfaces = [\"e0\", \"e1\"]\n"
        "[push]\nincluded_routes = [\"0.0.0.0/0\"]\nexcluded_routes = [\"::/0\"]\n"
        "dns_servers = [\"1.1.1.1\"]\nsearch_domains = [\"x.example\"]\nmatch_domains = [\"\"]\n"
        "keepalive_secs = 5\ndead_peer_secs = 6\nprotect_routes = true\n"
        "[[peer]]\nname = \"p\"\nipv4 = \"10.0.0.2\"\nipv6 = \"fd00::2\"\n"
        "routes_behind = [\"192.168.0.0/16\"]\n";
    auto s = parse_server(text, "x.toml");
    INFO((s ? "" : s.error().message));
    REQUIRE(s.ok());
    CHECK(s->ca == "/p/with \"quote\" and \\ \t\xC3\xA9");
    CHECK(s->push.protect_routes);
    auto s2 = parse_server(to_toml(*s), "x.toml");
    INFO(to_toml(*s) << (s2 ? "" : s2.error().message));
    REQUIRE(s2.ok());
    CHECK(*s2 == *s);

    std::string ctext =
        "server = \"[2001:db8::5]:99\"\nserver_name = \"10.0.0.1\"\nca = \"a\"\ncert = \"b\"\n"
        "key = \"c\"\nmode = \"userspace\"\nreconnect_max_secs = 9\nmetrics_listen = "
        "\"127.0.0.2:1\"\n[tunnel]\nmtu = 1500\nfwmark = 0xdeadbeef\ntable = 100\n"
        "[routes]\ninclude = [\"fd00::/8\"]\nexclude = [\"10.0.0.0/8\"]\n"
        "[dns]\nservers = [\"::1\"]\nsearch_domains = [\"a\"]\nmatch_domains = [\"b\", \"\"]\n"
        "backend = \"dnsmasq\"\ndnsmasq_conf_dir = \"/var/dnsmasq.d\"\ndnsmasq_restart = [\"/sbin/x\", \"a b\"]\n"
        "[protocol]\nalways_on = true\nenforce_routes = true\nprotect_routes = false\n";
    auto c = parse_client(ctext, "x.toml");
    INFO((c ? "" : c.error().message));
    REQUIRE(c.ok());
    CHECK(c->tunnel.fwmark == 0xdeadbeef);
    CHECK(c->protocol.protect_routes == std::optional<bool>(false));   // set: overrides the push
    CHECK(c->dns.dnsmasq_restart == std::vector<std::string>{"/sbin/x", "a b"});
    std::string out = to_toml(*c);
    CHECK_THAT(out, Catch::Contains("fwmark = 0xdeadbeef"));
    CHECK_THAT(out, Catch::Contains("protect_routes = false"));
    CHECK_THAT(out, Catch::Contains("server = \"[2001:db8::5]:99\""));
    auto c2 = parse_client(out, "x.toml");
    INFO(out << (c2 ? "" : c2.error().message));
    REQUIRE(c2.ok());
    CHECK(*c2 == *c);
  }
}

TEST_CASE("to_toml prints key paths, never key contents", "[config][emit]") {
  TempDir dir;
  dir.write("s.key", "-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n");
  std::string path = dir.write("server.toml", kServer);
  auto s = load_server(path, false);
  REQUIRE(s.ok());
  s->key = (dir.path / "s.key").string();
  std::string out = to_toml(*s);
  CHECK_THAT(out, Catch::Contains("key = \"" + s->key + "\""));
  CHECK_THAT(out, !Catch::Contains("SECRET"));
}
