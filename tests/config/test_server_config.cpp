// The server's file: every key's range, unknown keys, wrong types, peers, error positions.
#include <catch2/catch.hpp>

#include "config/config.hpp"

using namespace ptun;
using namespace ptun::config;

namespace {

// A minimal valid server file with room to add lines to each section.
std::string doc(const std::string& top = "", const std::string& tunnel = "",
                const std::string& rest = "") {
  return "listen = [\"0.0.0.0:4433\"]\n"
         "ca = \"/etc/ptun/ca.pem\"\ncert = \"/etc/ptun/s.pem\"\nkey = \"/etc/ptun/s.key\"\n" +
         top + "[tunnel]\nipv4_pool = \"10.99.0.0/24\"\nipv6_pool = \"fd99::/64\"\n" + tunnel +
         rest;
}

// `text` with the line that starts with `prefix` replaced by `line` ("" deletes it).
std::string with_line(std::string text, const std::string& prefix, const std::string& line) {
  size_t at = text.find(prefix);
  size_t end = text.find('\n', at) + 1;
  return text.replace(at, end - at, line);
}

std::string error_of(const std::string& text) {
  auto r = parse_server(text, "s.toml");
  return r ? "" : r.error().message;
}

}  // namespace

TEST_CASE("minimal server file gets the documented defaults", "[config][server]") {
  auto r = parse_server(doc(), "s.toml");
  REQUIRE(r.ok());
  const ServerConfig& c = *r;
  CHECK(c.path == "s.toml");
  REQUIRE(c.listen.size() == 1);
  CHECK(c.listen[0].str() == "0.0.0.0:4433");
  CHECK(c.control_socket == "/run/ptun/server.sock");
  CHECK(c.state_dir == "/var/lib/ptun/server");
  CHECK(c.log_level == "info");
  CHECK(c.max_sessions == 4096);
  CHECK(c.tunnel.interface == "ptun-s0");
  CHECK(c.tunnel.mtu == 1420);
  CHECK(c.tunnel.ipv4_pool->str() == "10.99.0.0/24");
  CHECK(server_address(*c.tunnel.ipv4_pool).str() == "10.99.0.1");
  CHECK(server_address(*c.tunnel.ipv6_pool).str() == "fd99::1");
  CHECK(c.push.keepalive_secs == 10);
  CHECK(c.push.dead_peer_secs == 30);
  CHECK(c.peers.empty());
  CHECK_FALSE(c.metrics_listen);
}

TEST_CASE("server values at the edges of their ranges are accepted", "[config][server]") {
  const std::string ok_docs[] = {
      doc("max_sessions = 1\n"),
      doc("max_sessions = 100000\n"),
      doc("", "mtu = 1280\n"),
      doc("", "mtu = 1500\n"),
      doc("log_level = \"debug\"\ncontrol_group = \"ptun\"\n"),
      doc("metrics_listen = \"127.0.0.1:9474\"\n"),
      doc("metrics_listen = \"[::1]:9474\"\n"),
      doc("", "", "[push]\nkeepalive_secs = 1\ndead_peer_secs = 2\n"),
      doc("", "", "[push]\nkeepalive_secs = 600\ndead_peer_secs = 3600\n"),
      doc("", "", "[push]\nmatch_domains = [\"\"]\nsearch_domains = [\"a-b.example\"]\n"),
      doc("", "masquerade = true\nmasquerade_interfaces = [\"eth0\", \"wan.10\"]\n"),
      "listen = [\"[::]:1\", \"0.0.0.0:65535\"]\nca = \"a\"\ncert = \"b\"\nkey = \"c\"\n"
      "[tunnel]\nipv4_pool = \"10.0.0.0/30\"\n",
      "listen = [\"[::]:1\"]\nca = \"a\"\ncert = \"b\"\nkey = \"c\"\n"
      "tunnel = { ipv6_pool = \"fd00::/126\" }\n",
  };
  for (const auto& d : ok_docs) {
    INFO(d);
    CHECK(error_of(d).empty());
  }
}

TEST_CASE("invalid server files name file, line, column and key", "[config][server]") {
  struct Case {
    std::string text;
    std::string error;  // expected substring
  };
  const Case cases[] = {
      // ranges
      {doc("", "mtu = 70000\n"), "s.toml:8:7: tunnel.mtu: 70000 is out of range 1280..1500"},
      {doc("", "mtu = 1279\n"), "tunnel.mtu: 1279 is out of range 1280..1500"},
      {doc("max_sessions = 0\n"), "s.toml:5:16: max_sessions: 0 is out of range 1..100000"},
      {doc("max_sessions = 100001\n"), "max_sessions: 100001 is out of range"},
      {doc("", "", "[push]\nkeepalive_secs = 0\n"), "push.keepalive_secs: 0 is out of range 1..600"},
      {doc("", "", "[push]\nkeepalive_secs = 601\n"), "push.keepalive_secs: 601 is out of range"},
      {doc("", "", "[push]\nkeepalive_secs = 30\n"),
       "push.dead_peer_secs: 30 must be greater than keepalive_secs (30)"},
      {doc("", "", "[push]\ndead_peer_secs = 3601\n"), "push.dead_peer_secs: 3601 is out of range"},
      {doc("log_level = \"trace\"\n"), "log_level: 'trace' is not a log level"},
      // listen
      {"ca = \"a\"\n", "s.toml:1:1: listen: required key is missing"},
      {with_line(doc(), "listen =", "listen = []\n"), "s.toml:1:10: listen: at least one address"},
      {with_line(doc(), "listen =", "listen = [\"0.0.0.0:0\"]\n"), "s.toml:1:11: listen[0]: port 0"},
      {with_line(doc(), "listen =", "listen = [\"::1:4433\"]\n"), "listen[0]: invalid endpoint"},
      {with_line(doc(), "listen =", "listen = [\"1.2.3.4:1\", \"1.2.3.4:1\"]\n"),
       "s.toml:1:24: listen[1]: duplicate entry '1.2.3.4:1'"},
      {with_line(doc(), "listen =", "listen = \"0.0.0.0:1\"\n"), "listen: expected an array of strings"},
      {with_line(doc(), "listen =", "listen = [4433]\n"), "listen[0]: expected a string, got integer"},
      // required files
      {with_line(doc(), "key =", ""), "s.toml:1:1: key: required key is missing"},
      {with_line(doc(), "ca =", "ca = \"\"\n"), "ca: empty path"},
      {with_line(doc(), "cert =", "cert = 5\n"), "cert: expected a string, got integer"},
      // metrics, group
      {doc("metrics_listen = \"0.0.0.0:9474\"\n"), "metrics_listen: '0.0.0.0:9474' is not a loopback"},
      {doc("control_group = \"-x\"\n"), "control_group: '-x' is not a valid group name"},
      // tunnel
      {doc().substr(0, doc().find("[tunnel]")), "s.toml:1:1: tunnel: required key is missing"},
      {doc().substr(0, doc().find("[tunnel]")) + "tunnel = 3\n", "s.toml:5:10: tunnel: expected a table, got integer"},
      {doc("", "interface = \"this-name-is-too-long\"\n"), "tunnel.interface: interface names are 1..15"},
      {doc("", "interface = \"a/b\"\n"), "tunnel.interface: 'a/b' is not a valid interface name"},
      {doc("", "interface = \"a b\"\n"), "is not a valid interface name"},
      {doc("", "interface = \"a:1\"\n"), "is not a valid interface name"},
      {"listen = [\"[::]:1\"]\nca = \"a\"\ncert = \"b\"\nkey = \"c\"\n[tunnel]\nmtu = 1400\n",
       "s.toml:5:1: tunnel: at least one of ipv4_pool and ipv6_pool is required"},
      {doc().replace(doc().find("10.99.0.0/24"), 12, "10.99.0.1/24"), "tunnel.ipv4_pool: invalid prefix '10.99.0.1/24': host bits set"},
      {doc().replace(doc().find("10.99.0.0/24"), 12, "10.99.0.0/31"), "tunnel.ipv4_pool: /31 is too small for a pool: at most /30"},
      {doc().replace(doc().find("fd99::/64"), 9, "fd99::/127"), "tunnel.ipv6_pool: /127 is too small"},
      {doc().replace(doc().find("fd99::/64"), 9, "10.1.0.0/16"), "tunnel.ipv6_pool: '10.1.0.0/16' is not an IPv6 prefix"},
      {doc("", "masquerade_interfaces = [\"eth0\"]\n"), "tunnel.masquerade_interfaces: has no effect unless masquerade = true"},
      {doc("", "masquerade = true\nmasquerade_interfaces = [\"eth0\", \"eth0\"]\n"), "masquerade_interfaces[1]: duplicate entry 'eth0'"},
      {doc("", "masquerade = true\nmasquerade_interfaces = [\"ptun-s0\"]\n"), "is the tunnel interface itself"},
      {doc("", "masquerade = \"yes\"\n"), "tunnel.masquerade: expected true or false, got string"},
      {doc("", "mtu = 1400.0\n"), "tunnel.mtu: expected an integer, got float"},
      {doc("", "forwarding = \"nat\"\n"), "tunnel.forwarding: 'nat' is not a forwarding mode (kernel|userspace)"},
      {doc("", "forwarding = \"userspace\"\nmasquerade = true\n"), "tunnel.masquerade: does not apply with forwarding = \"userspace\""},
      {doc("", "userspace_max_flows_per_client = 0\n"), "tunnel.userspace_max_flows_per_client:"},
      {doc("", "userspace_tcp_idle_secs = 5\n"), "tunnel.userspace_tcp_idle_secs:"},
      {doc("", "userspace_udp_idle_secs = 3601\n"), "tunnel.userspace_udp_idle_secs:"},
      {doc("", "userspace_tcp_zero_window_secs = 4\n"), "tunnel.userspace_tcp_zero_window_secs:"},
      {doc("", "userspace_client_buffer_kib = 255\n"), "tunnel.userspace_client_buffer_kib:"},
      {doc("", "userspace_client_buffer_kib = 4194305\n"), "tunnel.userspace_client_buffer_kib:"},
      // push
      {doc("", "", "[push]\nincluded_routes = [\"10.0.0.0/8\", \"10.0.0.0/8\"]\n"), "push.included_routes[1]: duplicate entry '10.0.0.0/8'"},
      {doc("", "", "[push]\nincluded_routes = [\"10.0.0.1/8\"]\n"), "push.included_routes[0]: invalid prefix"},
      {doc("", "", "[push]\nincluded_routes = [\"10.0.0.0/8\"]\nexcluded_routes = [\"10.0.0.0/8\"]\n"), "push.excluded_routes[0]: '10.0.0.0/8' is also in included_routes"},
      {doc("", "", "[push]\ndns_servers = [\"10.0.0.300\"]\n"), "push.dns_servers[0]: invalid IP address"},
      {doc("", "", "[push]\ndns_servers = [\"10.0.0.1\", \"10.0.0.1\"]\n"), "push.dns_servers[1]: duplicate entry"},
      {doc("", "", "[push]\nsearch_domains = [\"-bad.example\"]\n"), "push.search_domains[0]: '-bad.example' is not a valid domain name"},
      {doc("", "", "[push]\nsearch_domains = [\"\"]\n"), "push.search_domains[0]: empty domain name"},
      {doc("", "", "[push]\nsearch_domains = [\"a..b\"]\n"), "is not a valid domain name"},
      {doc("", "", "[push]\nsearch_domains = [\"a.b.\"]\n"), "no trailing dot"},
      {doc("", "", "[push]\nsearch_domains = [\"" + std::string(64, 'a') + ".com\"]\n"), "labels are 1..63"},
      {doc("", "", "[push]\nmatch_domains = [\"" + std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(63, 'd') + ".com\"]\n"), "longer than 253"},
      {doc("", "", "[push]\nmatch_domains = [\"a_b.example\"]\n"), "letters, digits"},
      // unknown keys at every level
      {doc("lissten = [\"0.0.0.0:1\"]\n"), "s.toml:5:1: lissten: unknown key"},
      {doc("", "mtuu = 1400\n"), "s.toml:8:1: tunnel.mtuu: unknown key"},
      {doc("", "", "[push]\nroutes = []\n"), "s.toml:9:1: push.routes: unknown key"},
      {doc("", "", "[[peer]]\nname = \"a\"\naddress = \"10.99.0.5\"\n"), "s.toml:10:1: peer[0].address: unknown key"},
      {doc("", "", "[extra]\nx = 1\n"), "s.toml:8:2: extra: unknown key"},
      {doc("tunnel.mtu = 1400\n"), "s.toml:6:1: Error while parsing table header: cannot redefine existing table"},  // TOML itself: table defined twice
      // syntax errors carry a position too
      {"listen = [\n", "s.toml:1:12: Error while parsing array: encountered end-of-file"},
      {"listen = [\"0.0.0.0:1\"]\nlisten = [\"0.0.0.0:2\"]\n", "s.toml:2:10:"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    std::string err = error_of(c.text);
    CHECK_THAT(err, Catch::Contains(c.error));
    CHECK(err.find('\n') == std::string::npos);
  }
}

TEST_CASE("peers: names, static addresses and routes behind them", "[config][server]") {
  auto peer = [](const std::string& body) { return "[[peer]]\n" + body; };
  SECTION("valid peers") {
    auto r = parse_server(doc("", "", peer("name = \"a\"\nipv4 = \"10.99.0.2\"\nipv6 = \"fd99::2\"\n") +
                                          peer("name = \"b@site.example\"\nroutes_behind = [\"192.168.1.0/24\", \"2001:db8:1::/48\"]\n") +
                                          peer("name = \"c\"\nroutes_behind = [\"192.168.2.0/24\"]\n")),
                          "s.toml");
    REQUIRE(r.ok());
    REQUIRE(r->peers.size() == 3);
    CHECK(r->peers[0].name == "a");
    CHECK(r->peers[0].ipv4->str() == "10.99.0.2");
    CHECK(r->peers[0].ipv6->str() == "fd99::2");
    CHECK_FALSE(r->peers[1].ipv4);
    CHECK(r->peers[1].routes_behind.size() == 2);
  }
  SECTION("invalid peers") {
    struct Case {
      std::string peers;
      std::string error;
    };
    const Case cases[] = {
        {peer("ipv4 = \"10.99.0.2\"\n"), "s.toml:8:1: peer[0].name: required key is missing"},
        {peer("name = \"a\"\n") + peer("name = \"a\"\n"), "s.toml:11:8: peer[1].name: duplicate peer name 'a'"},
        {peer("name = \"a b\"\n"), "peer[0].name: 'a b' is not a valid peer name"},
        {peer("name = \"\"\n"), "peer[0].name: peer names are 1..64"},
        {peer("name = \"a\"\nipv4 = \"10.99.1.2\"\n"), "peer[0].ipv4: 10.99.1.2 is outside the pool 10.99.0.0/24"},
        {peer("name = \"a\"\nipv4 = \"10.99.0.1\"\n"), "peer[0].ipv4: 10.99.0.1 is the server's own address"},
        {peer("name = \"a\"\nipv4 = \"10.99.0.0\"\n"), "is the pool's network address"},
        {peer("name = \"a\"\nipv4 = \"10.99.0.255\"\n"), "is the pool's broadcast address"},
        {peer("name = \"a\"\nipv4 = \"fd99::5\"\n"), "peer[0].ipv4: 'fd99::5' is not an IPv4 address"},
        {peer("name = \"a\"\nipv6 = \"fd99::1\"\n"), "peer[0].ipv6: fd99::1 is the server's own address"},
        {peer("name = \"a\"\nipv6 = \"fd98::5\"\n"), "is outside the pool fd99::/64"},
        {peer("name = \"a\"\nipv4 = \"10.99.0.7\"\n") + peer("name = \"b\"\nipv4 = \"10.99.0.7\"\n"),
         "s.toml:13:8: peer[1].ipv4: 10.99.0.7 is already assigned to peer 'a'"},
        {peer("name = \"a\"\nroutes_behind = [\"10.99.0.0/25\"]\n"), "overlaps the pool 10.99.0.0/24"},
        {peer("name = \"a\"\nroutes_behind = [\"192.168.0.0/16\"]\n") + peer("name = \"b\"\nroutes_behind = [\"192.168.5.0/24\"]\n"),
         "peer[1].routes_behind[0]: overlaps 192.168.0.0/16 behind peer 'a'"},
        {peer("name = \"a\"\nroutes_behind = [\"192.168.5.0/24\"]\n") + peer("name = \"b\"\nroutes_behind = [\"192.168.0.0/16\"]\n"),
         "overlaps 192.168.5.0/24 behind peer 'a'"},
        {peer("name = \"a\"\nroutes_behind = [\"192.168.5.0/24\", \"192.168.5.0/24\"]\n"), "duplicate entry"},
    };
    for (const auto& c : cases) {
      INFO(c.peers);
      CHECK_THAT(error_of(doc("", "", c.peers)), Catch::Contains(c.error));
    }
  }
  SECTION("peer must be an array of tables") {
    CHECK_THAT(error_of(doc("peer = 5\n")), Catch::Contains("s.toml:5:8: peer: expected [[peer]] tables, got integer"));
    CHECK_THAT(error_of(doc("peer = [1]\n")), Catch::Contains("s.toml:5:9: peer[0]: expected a table, got integer"));
    CHECK(error_of(doc("peer = [{ name = \"x\" }]\n")).empty());
  }
  SECTION("a static address needs a pool of its family") {
    std::string text =
        "listen = [\"[::]:1\"]\nca = \"a\"\ncert = \"b\"\nkey = \"c\"\n[tunnel]\n"
        "ipv6_pool = \"fd99::/64\"\n[[peer]]\nname = \"a\"\nipv4 = \"10.99.0.5\"\n";
    CHECK_THAT(error_of(text), Catch::Contains("peer[0].ipv4: no tunnel.ipv4_pool"));
  }
}

TEST_CASE("userspace forwarding keys", "[config][server]") {
  auto d = parse_server(doc(), "s.toml");
  REQUIRE(d.ok());
  CHECK(d->tunnel.forwarding == "kernel");
  CHECK(d->tunnel.userspace_max_flows_per_client == 512);
  CHECK(d->tunnel.userspace_tcp_idle_secs == 1800);
  CHECK(d->tunnel.userspace_udp_idle_secs == 60);
  CHECK(d->tunnel.userspace_tcp_zero_window_secs == 120);
  CHECK(d->tunnel.userspace_client_buffer_kib == 16384);
  auto r = parse_server(doc("", "forwarding = \"userspace\"\nuserspace_max_flows_per_client = 64\n"
                                "userspace_tcp_idle_secs = 600\nuserspace_udp_idle_secs = 30\n"
                                "userspace_tcp_zero_window_secs = 10\nuserspace_client_buffer_kib = 1024\n"), "s.toml");
  REQUIRE(r.ok());
  CHECK(r->tunnel.forwarding == "userspace");
  CHECK(r->tunnel.userspace_max_flows_per_client == 64);
  CHECK(r->tunnel.userspace_tcp_idle_secs == 600);
  CHECK(r->tunnel.userspace_udp_idle_secs == 30);
  CHECK(r->tunnel.userspace_tcp_zero_window_secs == 10);
  CHECK(r->tunnel.userspace_client_buffer_kib == 1024);
}

TEST_CASE("userspace_deny: metadata services by default, the key replaces them", "[config][server]") {
  auto d = parse_server(doc(), "s.toml");
  REQUIRE(d.ok());
  std::vector<std::string> got;
  for (const auto& c : d->tunnel.userspace_deny) got.push_back(c.str());
  CHECK(got == std::vector<std::string>{"fd00:ec2::254/128", "100.100.100.200/32", "168.63.129.16/32"});
  auto r = parse_server(doc("", "userspace_deny = [\"192.0.2.0/24\", \"2001:db8::/32\"]\n"), "s.toml");
  REQUIRE(r.ok());
  REQUIRE(r->tunnel.userspace_deny.size() == 2);
  CHECK(r->tunnel.userspace_deny[0].str() == "192.0.2.0/24");
  auto none = parse_server(doc("", "userspace_deny = []\n"), "s.toml");
  REQUIRE(none.ok());
  CHECK(none->tunnel.userspace_deny.empty());
  auto bad = parse_server(doc("", "userspace_deny = [\"not-a-net\"]\n"), "s.toml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("tunnel.userspace_deny") != std::string::npos);
  auto dup = parse_server(doc("", "userspace_deny = [\"192.0.2.0/24\", \"192.0.2.0/24\"]\n"), "s.toml");
  CHECK_FALSE(dup.ok());
}

TEST_CASE("client_to_client and lease_expiry_days: defaults, values, errors", "[config][server]") {
  auto d = parse_server(doc(), "s.toml");
  REQUIRE(d.ok());
  CHECK(d->tunnel.client_to_client);
  CHECK(d->tunnel.lease_expiry_days == 30);
  auto s = parse_server(doc("", "client_to_client = false\nlease_expiry_days = 0\n"), "s.toml");
  REQUIRE(s.ok());
  CHECK_FALSE(s->tunnel.client_to_client);
  CHECK(s->tunnel.lease_expiry_days == 0);
  auto again = parse_server(to_toml(*s), "s.toml");
  REQUIRE(again.ok());
  again->path = s->path;
  CHECK(*again == *s);
  CHECK_THAT(error_of(doc("", "lease_expiry_days = 3651\n")),
             Catch::Contains("s.toml:8:21: tunnel.lease_expiry_days: 3651 is out of range 0..3650"));
  CHECK_THAT(error_of(doc("", "client_to_client = 1\n")),
             Catch::Contains("s.toml:8:20: tunnel.client_to_client: expected true or false"));
}

TEST_CASE("crl: optional, a path resolved like ca, round-trips", "[config][server]") {
  auto d = parse_server(doc(), "s.toml");
  REQUIRE(d.ok());
  CHECK(d->crl.empty());
  auto s = parse_server(doc("crl = \"/etc/ptun/crl.pem\"\n"), "s.toml");
  REQUIRE(s.ok());
  CHECK(s->crl == "/etc/ptun/crl.pem");
  auto again = parse_server(to_toml(*s), "s.toml");
  REQUIRE(again.ok());
  again->path = s->path;
  CHECK(*again == *s);
  CHECK_THAT(error_of(doc("crl = 7\n")), Catch::Contains("s.toml:5:7: crl: expected a string"));
}

TEST_CASE("[[peer]] fingerprint pins", "[config][server][fingerprint]") {
  const std::string hex = "0a121a222a323a424a525a626a727a828a929aa2aab2bac2cad2dae2eaf2fa02";
  auto s = parse_server(doc("", "", "[[peer]]\nname = \"a\"\nfingerprint = \"sha256:" + hex + "\"\n"
                                    "[[peer]]\nname = \"b\"\n"), "s.toml");
  REQUIRE(s);
  REQUIRE(s->peers.size() == 2);
  REQUIRE(s->peers[0].fingerprint);
  CHECK(fingerprint_str(*s->peers[0].fingerprint) == "sha256:" + hex);
  CHECK(!s->peers[1].fingerprint);
  // OpenSSL's form is the same pin.
  std::string colons;
  for (size_t i = 0; i < 64; i += 2) colons += (i ? ":" : "") + hex.substr(i, 2);
  auto o = parse_server(doc("", "", "[[peer]]\nname = \"a\"\nfingerprint = \"" + colons + "\"\n"), "s.toml");
  REQUIRE(o);
  CHECK(o->peers[0].fingerprint == s->peers[0].fingerprint);
  // Round trip through the effective config.
  auto again = parse_server(to_toml(*s), "s.toml");
  REQUIRE(again);
  CHECK(again->peers == s->peers);
  // Malformed: file, line and key.
  CHECK_THAT(error_of(doc("", "", "[[peer]]\nname = \"a\"\nfingerprint = \"sha256:" + hex.substr(1) + "\"\n")),
             Catch::StartsWith("s.toml:10:15: peer[0].fingerprint: a SHA-256 fingerprint is"));
  CHECK_THAT(error_of(doc("", "", "[[peer]]\nname = \"a\"\nfingerprint = \"sha1:" + hex + "\"\n")),
             Catch::StartsWith("s.toml:10:15: peer[0].fingerprint: a SHA-256 fingerprint is"));
  CHECK_THAT(error_of(doc("", "", "[[peer]]\nname = \"a\"\nfingerprint = 5\n")),
             Catch::Contains("peer[0].fingerprint"));
}
