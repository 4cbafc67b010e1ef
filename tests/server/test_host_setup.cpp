// The server's masquerade table: its exact script for both ways of choosing the way out, and
// names nft cannot take refused (the install itself needs root: tests/e2e/test_masquerade.sh).
#include <catch2/catch.hpp>

#include "server/host_setup.hpp"

using namespace ptun;
using namespace ptun::server;

TEST_CASE("masquerade: the table's name and script", "[server][nft]") {
  CHECK(masquerade_table("ptun-s0") == "ptun_ptun_s0");
  const std::vector<Cidr> pools = {*Cidr::parse("10.8.0.0/24"), *Cidr::parse("fd00:8::/64")};
  auto s = masquerade_script("ptun_ptun_s0", "ptun-s0", pools, {});
  REQUIRE(s.ok());
  CHECK(*s ==
        "add table inet ptun_ptun_s0\n"
        "delete table inet ptun_ptun_s0\n"
        "table inet ptun_ptun_s0 {\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        "    ip saddr 10.8.0.0/24 oifname != \"ptun-s0\" masquerade\n"
        "    ip6 saddr fd00:8::/64 oifname != \"ptun-s0\" masquerade\n"
        "  }\n"
        "}\n");
  // masquerade_interfaces: only through those, each pool through each
  s = masquerade_script("ptun_ptun_s0", "ptun-s0", pools, {"eth0", "wlan0"});
  REQUIRE(s.ok());
  CHECK(s->find("    ip saddr 10.8.0.0/24 oifname \"eth0\" masquerade\n"
                "    ip saddr 10.8.0.0/24 oifname \"wlan0\" masquerade\n"
                "    ip6 saddr fd00:8::/64 oifname \"eth0\" masquerade\n"
                "    ip6 saddr fd00:8::/64 oifname \"wlan0\" masquerade\n  }\n") != std::string::npos);
  CHECK(s->find("!=") == std::string::npos);
  CHECK(masquerade_script("ptun_ptun_s0", "ptun-s0", pools, {"eth0\" accept"}).error().code == Errc::invalid_argument);
  CHECK(masquerade_script("ptun ptun_s0", "ptun-s0", pools, {}).error().code == Errc::invalid_argument);
}
