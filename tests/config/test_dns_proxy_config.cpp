// [tunnel] dns_proxy, dns_proxy_upstreams, dns_proxy_resolv_conf and when the proxy runs.
#include <catch2/catch.hpp>

#include "config/config.hpp"

using namespace ptun;
using namespace ptun::config;

namespace {

Result<ServerConfig> parse(const std::string& tunnel, const std::string& push = "") {
  return parse_server("listen = [\"0.0.0.0:4433\"]\nca = \"/c\"\ncert = \"/s\"\nkey = \"/k\"\n"
                      "[tunnel]\nipv4_pool = \"10.99.0.0/24\"\nipv6_pool = \"fd99::/64\"\n" + tunnel +
                      "[push]\n" + push,
                      "s.toml");
}

std::string error_of(const std::string& tunnel, const std::string& push = "") {
  auto r = parse(tunnel, push);
  return r ? "" : r.error().message;
}

}  // namespace

TEST_CASE("dns_proxy: auto runs when the pushed DNS is the server's own tunnel address", "[config][dnsproxy]") {
  auto none = parse("");
  REQUIRE(none);
  CHECK(none->tunnel.dns_proxy == "auto");
  CHECK(none->tunnel.dns_proxy_resolv_conf == "/etc/resolv.conf");
  CHECK(none->tunnel.dns_proxy_upstreams.empty());
  CHECK_FALSE(dns_proxy_active(*none));  // nothing pushed
  CHECK(server_addresses(*none) == std::vector<IpAddr>{*IpAddr::parse("10.99.0.1"), *IpAddr::parse("fd99::1")});
  auto pub = parse("", "dns_servers = [\"9.9.9.9\"]\n");
  CHECK_FALSE(dns_proxy_active(*pub));
  auto own4 = parse("", "dns_servers = [\"9.9.9.9\", \"10.99.0.1\"]\n");
  CHECK(dns_proxy_active(*own4));
  auto own6 = parse("", "dns_servers = [\"fd99::1\"]\n");
  CHECK(dns_proxy_active(*own6));
  auto off = parse("dns_proxy = \"off\"\n", "dns_servers = [\"10.99.0.1\"]\n");
  CHECK_FALSE(dns_proxy_active(*off));
  auto on = parse("dns_proxy = \"on\"\n", "dns_servers = [\"9.9.9.9\"]\n");
  CHECK(dns_proxy_active(*on));
  auto us = parse("forwarding = \"userspace\"\n", "dns_servers = [\"10.99.0.1\"]\n");
  REQUIRE(us);
  CHECK_FALSE(dns_proxy_active(*us));  // no TUN to listen on
}

TEST_CASE("dns_proxy keys are validated", "[config][dnsproxy]") {
  CHECK(error_of("dns_proxy = \"yes\"\n") == "s.toml:8:13: tunnel.dns_proxy: 'yes' is not a dns_proxy mode (auto|on|off)");
  CHECK(error_of("dns_proxy = true\n").find("expected a string, got boolean") != std::string::npos);
  CHECK(error_of("forwarding = \"userspace\"\ndns_proxy = \"on\"\n").find("tunnel.dns_proxy: needs forwarding = \"kernel\"") !=
        std::string::npos);
  CHECK(error_of("dns_proxy_upstreams = [\"10.99.0.1\"]\n") ==
        "s.toml:8:24: tunnel.dns_proxy_upstreams[0]: 10.99.0.1 is the server's own tunnel address (the proxy itself)");
  CHECK(error_of("dns_proxy_upstreams = [\"fd99::1\"]\n").find("the proxy itself") != std::string::npos);
  CHECK(error_of("dns_proxy_upstreams = [\"resolver.example\"]\n").find("dns_proxy_upstreams[0]") != std::string::npos);
  CHECK(error_of("dns_proxy_upstreams = [\"1.1.1.1\", \"1.1.1.1\"]\n").find("dns_proxy_upstreams[1]") != std::string::npos);
  CHECK(error_of("dns_proxy_resolv_conf = \"etc/resolv.conf\"\n") ==
        "s.toml:8:25: tunnel.dns_proxy_resolv_conf: 'etc/resolv.conf' is not an absolute path");
  auto ok = parse("dns_proxy_upstreams = [\"127.0.0.53\", \"2620:fe::fe\"]\ndns_proxy_resolv_conf = \"/run/systemd/resolve/resolv.conf\"\n");
  REQUIRE(ok);
  CHECK(ok->tunnel.dns_proxy_upstreams.size() == 2);
  CHECK(ok->tunnel.dns_proxy_resolv_conf == "/run/systemd/resolve/resolv.conf");
  // The effective config names the keys, and parses back to the same struct.
  auto text = to_toml(*ok);
  CHECK(text.find("dns_proxy = \"auto\"") != std::string::npos);
  auto again = parse_server(text, "s.toml");
  REQUIRE(again);
  CHECK(again->tunnel == ok->tunnel);
}
