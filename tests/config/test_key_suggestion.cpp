// An unknown key names the nearest valid key of its table when it looks like a typo of it.
#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "config/toml_reader.hpp"

using namespace ptun;
using namespace ptun::config;

namespace {

std::string server_error(const std::string& top, const std::string& tunnel = "", const std::string& rest = "") {
  std::string text = "listen = [\"0.0.0.0:4433\"]\n"
                     "ca = \"/etc/ptun/ca.pem\"\ncert = \"/etc/ptun/s.pem\"\nkey = \"/etc/ptun/s.key\"\n" +
                     top + "[tunnel]\nipv4_pool = \"10.99.0.0/24\"\n" + tunnel + rest;
  auto r = parse_server(text, "s.toml");
  return r ? "" : r.error().message;
}

}  // namespace

TEST_CASE("edit_distance counts insertions, deletions, substitutions and swaps", "[config][suggest]") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("mtu", "mtu") == 0);
  CHECK(edit_distance("mtus", "mtu") == 1);
  CHECK(edit_distance("mt", "mtu") == 1);
  CHECK(edit_distance("mtx", "mtu") == 1);
  CHECK(edit_distance("mut", "mtu") == 1);  // adjacent swap is one edit
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("nearest_key: typos only, deterministic", "[config][suggest]") {
  std::set<std::string, std::less<>> keys{"mtu", "interface", "ipv4_pool", "ipv6_pool", "masquerade"};
  CHECK(nearest_key("mtus", keys) == "mtu");
  CHECK(nearest_key("interfcae", keys) == "interface");
  CHECK(nearest_key("masqurade", keys) == "masquerade");
  CHECK(nearest_key("ipv5_pool", keys) == "ipv4_pool");  // tie with ipv6_pool: the first sorted
  CHECK(nearest_key("completely_else", keys) == "");
  CHECK(nearest_key("ip", keys) == "");  // too short to guess
  CHECK(nearest_key("", keys) == "");
  CHECK(nearest_key("mtu", {}) == "");
}

TEST_CASE("unknown keys in a server file suggest the nearest key of their own table", "[config][suggest]") {
  CHECK(server_error("", "mtus = 1400\n") == "s.toml:7:1: tunnel.mtus: unknown key; did you mean `tunnel.mtu`?");
  CHECK(server_error("lisen = []\n").find("lisen: unknown key") != std::string::npos);
  CHECK(server_error("max_sesions = 5\n") == "s.toml:5:1: max_sesions: unknown key; did you mean `max_sessions`?");
  CHECK(server_error("", "", "[push]\ndns_server = [\"10.99.0.1\"]\n") ==
        "s.toml:8:1: push.dns_server: unknown key; did you mean `push.dns_servers`?");
  // A key of another table is not offered: `mtu` belongs to [tunnel], not to the top level.
  CHECK(server_error("mtu = 1400\n") == "s.toml:5:1: mtu: unknown key");
  CHECK(server_error("", "", "[[peer]]\nname = \"a\"\nipv5 = \"10.99.0.9\"\n") ==
        "s.toml:9:1: peer[0].ipv5: unknown key; did you mean `peer[0].ipv4`?");
}
