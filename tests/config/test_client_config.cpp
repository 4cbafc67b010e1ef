// The client's file: every key's range, unknown keys, wrong types, the server address forms.
#include <catch2/catch.hpp>

#include "config/config.hpp"

using namespace ptun;
using namespace ptun::config;

namespace {

std::string doc(const std::string& top = "", const std::string& rest = "") {
  return "server = \"vpn.example.com:4433\"\nserver_name = \"vpn.example.com\"\n"
         "ca = \"/etc/ptun/ca.pem\"\ncert = \"/etc/ptun/c.pem\"\nkey = \"/etc/ptun/c.key\"\n" +
         top + rest;
}

// Removes the first server_name line (the default one; a replacement may follow).
std::string drop_name(std::string text) {
  size_t at = text.find("server_name");
  return text.erase(at, text.find('\n', at) + 1 - at);
}

std::string error_of(const std::string& text) {
  auto r = parse_client(text, "c.toml");
  return r ? "" : r.error().message;
}

}  // namespace

TEST_CASE("minimal client file gets the documented defaults", "[config][client]") {
  auto r = parse_client(doc(), "c.toml");
  REQUIRE(r.ok());
  const ClientConfig& c = *r;
  REQUIRE(c.servers.size() == 1);
  CHECK(c.servers[0].host == "vpn.example.com");
  CHECK(c.servers[0].port == 4433);
  CHECK(c.server_name == "vpn.example.com");
  CHECK(c.control_socket == "/run/ptun/client.sock");
  CHECK(c.state_dir == "/var/lib/ptun/client");
  CHECK(c.mode == "tun");
  CHECK(c.tunnel.interface == "ptun0");
  CHECK(c.tunnel.mtu == 0);
  CHECK(c.tunnel.fwmark == 0x7074);
  CHECK(c.tunnel.table == 7074);
  CHECK(c.reconnect_max_secs == 30);
  CHECK(c.rekey_after_secs == 3600);
  CHECK(c.rekey_after_mib == 0);
  CHECK_FALSE(c.protocol.include_all_networks);
}

TEST_CASE("server address forms", "[config][client]") {
  struct Case {
    std::string value, host;
    uint16_t port;
  };
  const Case cases[] = {
      {"198.18.0.10:4433", "198.18.0.10", 4433}, {"198.18.0.10", "198.18.0.10", 4433},
      {"[2001:db8::1]:443", "2001:db8::1", 443},  {"[2001:db8::1]", "2001:db8::1", 4433},
      {"vpn:1", "vpn", 1},                          {"a.b-c.example:65535", "a.b-c.example", 65535},
  };
  for (const auto& c : cases) {
    INFO(c.value);
    auto r = parse_client(
        doc().replace(10, 20, c.value), "c.toml");  // the value inside server = "..."
    REQUIRE(r.ok());
    REQUIRE(r->servers.size() == 1);
    CHECK(r->servers[0].host == c.host);
    CHECK(r->servers[0].port == c.port);
  }
}

TEST_CASE("server as a list: the failover order, kept as written", "[config][client]") {
  auto with = [](const std::string& value) {
    std::string text = doc();
    return text.replace(0, text.find('\n'), "server = " + value);
  };
  auto r = parse_client(with(R"(["vpn1.example.com", "198.18.0.10:443", "[2001:db8::1]:4434"])"), "c.toml");
  REQUIRE(r.ok());
  REQUIRE(r->servers.size() == 3);
  CHECK(r->servers[0] == ServerAddress{"vpn1.example.com", 4433});
  CHECK(r->servers[1] == ServerAddress{"198.18.0.10", 443});
  CHECK(r->servers[2] == ServerAddress{"2001:db8::1", 4434});
  CHECK(r->servers[2].str() == "[2001:db8::1]:4434");
  auto again = parse_client(to_toml(*r), "c.toml");   // written back as a list
  REQUIRE(again.ok());
  CHECK(again->servers == r->servers);
  // A one-element list is the same as the string.
  auto one = parse_client(with(R"(["vpn.example.com:4433"])"), "c.toml");
  REQUIRE(one.ok());
  CHECK(one->servers == parse_client(doc(), "c.toml")->servers);

  struct Bad {
    std::string value, why;
  };
  const Bad bad[] = {
      {"[]", "server: an empty list: at least one server is needed"},
      {R"(["a:1", "b:2", "a:1"])", "server[2]: 'a:1' is listed twice"},
      {R"(["a", "a:4433"])", "server[1]: 'a:4433' is listed twice"},
      {R"(["a", 1])", "server[1]: expected a string, got integer"},
      {R"(["a", "[::1"])", "server[1]: "},
      {"1", "server: expected a string, got integer"},
  };
  for (const auto& b : bad) {
    INFO(b.value);
    auto e = parse_client(with(b.value), "c.toml");
    REQUIRE_FALSE(e.ok());
    CHECK_THAT(e.error().message, Catch::Contains(b.why));
  }
  std::string many = "[";
  for (int i = 0; i <= 16; ++i) many += std::string(i ? ", " : "") + "\"s" + std::to_string(i) + "\"";
  auto e = parse_client(with(many + "]"), "c.toml");
  REQUIRE_FALSE(e.ok());
  CHECK_THAT(e.error().message, Catch::Contains("17 entries, at most 16 allowed"));
}

TEST_CASE("client values at the edges of their ranges are accepted", "[config][client]") {
  const std::string ok_docs[] = {
      doc("mode = \"userspace\"\n"),
      doc("reconnect_max_secs = 1\n"),
      doc("reconnect_max_secs = 3600\n"),
      doc("rekey_after_secs = 0\nrekey_after_mib = 0\n"),
      doc("rekey_after_secs = 2\nrekey_after_mib = 1073741824\n"),
      doc("rekey_after_secs = 604800\n"),
      drop_name(doc("server_name = \"198.18.0.10\"\n")),
      doc("", "[tunnel]\nmtu = 1280\nfwmark = 1\ntable = 1\n"),
      doc("", "[tunnel]\nmtu = 1500\nfwmark = 0xffffffff\ntable = 252\n"),
      doc("", "[tunnel]\ntable = 256\n"),
      doc("", "[tunnel]\ntable = 4294967294\n"),
      doc("", "[routes]\ninclude = [\"10.0.0.0/8\", \"fd00::/8\"]\nexclude = [\"10.1.0.0/16\"]\n"),
      doc("", "[dns]\nservers = [\"10.99.0.1\", \"fd99::1\"]\nmatch_domains = [\"\"]\n"),
      doc("", "[dns]\nbackend = \"dnsmasq\"\ndnsmasq_conf_dir = \"/\"\ndnsmasq_restart = [\"dnsmasq-restart\"]\n"),
      doc("", "[dns]\nbackend = \"auto\"\n"),
      doc("", "[protocol]\ninclude_all_networks = true\nexclude_local_networks = true\n"
              "enforce_routes = true\nalways_on = true\nprotect_routes = true\n"),
  };
  for (const auto& d : ok_docs) {
    INFO(d);
    CHECK(error_of(d).empty());
  }
}

TEST_CASE("invalid client files name file, line, column and key", "[config][client]") {
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {doc().substr(32), "c.toml:1:1: server: required key is missing"},
      {drop_name(doc()), "server_name: required key is missing"},
      {doc().replace(10, 20, "2001:db8::1:443"), "c.toml:1:10: server: '2001:db8::1:443': IPv6 addresses need [brackets]"},
      {doc().replace(10, 20, "vpn.example.com:0"), "server: port 0 is out of range 1..65535"},
      {doc().replace(10, 20, "vpn.example.com:65536"), "out of range 1..65535"},
      {doc().replace(10, 20, "vpn.example.com:x"), "server: bad port 'x'"},
      {doc().replace(10, 20, "[10.0.0.1]:1"), "brackets are for IPv6 addresses only"},
      {doc().replace(10, 20, "[::1"), "missing ']'"},
      {doc().replace(10, 20, "bad_host:1"), "server: 'bad_host' is not a valid domain name"},
      {doc("mode = \"kernel\"\n"), "c.toml:6:8: mode: 'kernel' is not a mode (tun|userspace)"},
      {doc("reconnect_max_secs = 0\n"), "reconnect_max_secs: 0 is out of range 1..3600"},
      {doc("reconnect_max_secs = 3601\n"), "reconnect_max_secs: 3601 is out of range 1..3600"},
      {doc("reconnect_max_secs = -5\n"), "reconnect_max_secs: -5 is out of range"},
      {doc("rekey_after_secs = 1\n"), "rekey_after_secs: 1 is too short"},
      {doc("rekey_after_secs = 604801\n"), "rekey_after_secs: 604801 is out of range 0..604800"},
      {doc("rekey_after_mib = 1073741825\n"), "rekey_after_mib: 1073741825 is out of range"},
      {doc("log_level = \"verbose\"\n"), "log_level: 'verbose' is not a log level"},
      {doc("metrics_listen = \"10.0.0.1:9\"\n"), "is not a loopback address"},
      {doc("", "[tunnel]\nmtu = 1000\n"), "c.toml:7:7: tunnel.mtu: 1000 is out of range 0 (take the server's) or 1280..1500"},
      {doc("", "[tunnel]\nmtu = 70000\n"), "tunnel.mtu: 70000 is out of range 0 (take the server's) or 1280..1500"},
      {doc("", "[tunnel]\nfwmark = 0\n"), "tunnel.fwmark: 0 is out of range 1..4294967295"},
      {doc("", "[tunnel]\nfwmark = 0x100000000\n"), "tunnel.fwmark: 4294967296 is out of range"},
      {doc("", "[tunnel]\ntable = 0\n"), "tunnel.table: 0 is out of range 1..4294967294 except 253, 254, 255"},
      {doc("", "[tunnel]\ntable = 254\n"), "tunnel.table: 254 is a reserved routing table"},
      {doc("", "[tunnel]\ntable = 253\n"), "reserved routing table"},
      {doc("", "[tunnel]\ntable = 255\n"), "reserved routing table"},
      {doc("", "[tunnel]\ntable = 4294967295\n"), "tunnel.table: 4294967295 is out of range"},
      {doc("", "[tunnel]\ninterface = \"\"\n"), "tunnel.interface: interface names are 1..15"},
      {doc("", "[tunnel]\ninterface = \"..\"\n"), "is not a valid interface name"},
      {doc("", "[routes]\ninclude = [\"10.0.0.0/8\"]\nexclude = [\"10.0.0.0/8\"]\n"), "routes.exclude[0]: '10.0.0.0/8' is also in routes.include"},
      {doc("", "[routes]\ninclude = [\"10.0.0.0/8\", \"10.0.0.0/8\"]\n"), "routes.include[1]: duplicate entry"},
      {doc("", "[dns]\nservers = [\"dns.example\"]\n"), "dns.servers[0]: invalid IP address"},
      {doc("", "[dns]\nsearch_domains = [\"a\", \"a\"]\n"), "dns.search_domains[1]: duplicate entry 'a'"},
      {doc("", "[dns]\nmatch_domains = [\"\", \"\"]\n"), "dns.match_domains[1]: duplicate entry"},
      {doc("", "[dns]\nbackend = \"resolvconf\"\n"), "dns.backend: 'resolvconf' is not a DNS back end (auto|dnsmasq)"},
      {doc("", "[dns]\ndnsmasq_conf_dir = \"tmp/dnsmasq.d\"\n"), "dns.dnsmasq_conf_dir: 'tmp/dnsmasq.d' is not an absolute directory path"},
      {doc("", "[dns]\ndnsmasq_conf_dir = \"/tmp/a b\"\n"), "without spaces or commas"},
      {doc("", "[dns]\ndnsmasq_conf_dir = \"/tmp/a\\nb\"\n"), "dns.dnsmasq_conf_dir: '/tmp/a"},
      {doc("", "[dns]\ndnsmasq_restart = []\n"), "dns.dnsmasq_restart: a command is needed"},
      {doc("", "[dns]\ndnsmasq_restart = [\"/etc/init.d/dnsmasq\", \"\"]\n"), "dns.dnsmasq_restart[1]: empty or contains control characters"},
      {doc("", "[dns]\ndnsmasq_restart = \"/etc/init.d/dnsmasq restart\"\n"), "dns.dnsmasq_restart: expected an array of strings, got string"},
      {doc("", "[protocol]\nalways_on = 1\n"), "protocol.always_on: expected true or false, got integer"},
      {doc("", "[protocol]\nprotect_routes = \"yes\"\n"), "protocol.protect_routes: expected true or false, got string"},
      // unknown keys at every level
      {doc("severname = \"x\"\n"), "c.toml:6:1: severname: unknown key"},
      {doc("", "[tunnel]\nmark = 1\n"), "c.toml:7:1: tunnel.mark: unknown key"},
      {doc("", "[routes]\nexclude_local = true\n"), "routes.exclude_local: unknown key"},
      {doc("", "[dns]\nserver = [\"1.1.1.1\"]\n"), "dns.server: unknown key"},
      {doc("", "[protocol]\nkill_switch = true\n"), "protocol.kill_switch: unknown key"},
      {doc("", "[peer]\nname = \"x\"\n"), "c.toml:6:2: peer: unknown key"},
      // wrong types
      {drop_name(doc("server_name = 5\n")), "server_name: expected a string, got integer"},
      {doc("", "routes = [\"10.0.0.0/8\"]\n"), "routes: expected a table, got array"},
      {doc("", "[routes]\ninclude = \"10.0.0.0/8\"\n"), "routes.include: expected an array of strings, got string"},
      {doc("", "[routes]\ninclude = [[\"10.0.0.0/8\"]]\n"), "routes.include[0]: expected a string, got array"},
      {doc("", "[tunnel]\nmtu = \"1400\"\n"), "tunnel.mtu: expected an integer, got string"},
      {doc("state_dir = 1979-05-27\n"), "state_dir: expected a string, got date"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    std::string err = error_of(c.text);
    CHECK_THAT(err, Catch::Contains(c.error));
    CHECK(err.find('\n') == std::string::npos);
  }
}

TEST_CASE("control characters in values stay on one error line", "[config][client]") {
  std::string err = error_of(doc("log_level = \"a\\nb\"\n"));
  CHECK_THAT(err, Catch::Contains("log_level: 'a\\x0ab' is not a log level"));
  CHECK(err.find('\n') == std::string::npos);
}
