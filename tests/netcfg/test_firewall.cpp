#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include "netcfg/firewall.hpp"
#include "netcfg/journal.hpp"

using namespace ptun;
using namespace ptun::netcfg;

namespace {
bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }
std::string text(const Result<std::string>& r) {
  REQUIRE(r.ok());
  return *r;
}
}  // namespace

TEST_CASE("kill switch ruleset: atomic replace, drop policy, the exceptions only", "[firewall]") {
  KillSwitchSpec ks;
  ks.table = instance_nft_table("ptun0");
  ks.tun_iface = "ptun0";
  ks.fwmark = 0x7074;
  ks.server = *Endpoint::parse("198.18.0.2:4433");
  auto s = text(killswitch_script(ks));
  // add + flush + full definition: one transaction replaces whatever was there.
  CHECK(s.rfind("add table inet ptun_ptun0\nflush table inet ptun_ptun0\ntable inet ptun_ptun0 {\n", 0) == 0);
  CHECK(has(s, "type filter hook output priority -10; policy drop;"));
  CHECK(has(s, "type filter hook forward priority -10; policy drop;"));
  CHECK(has(s, "oifname \"lo\" accept"));
  CHECK(has(s, "oifname \"ptun0\" accept"));
  CHECK(has(s, "meta mark 0x00007074 ip daddr 198.18.0.2 udp dport 4433 accept"));
  CHECK_FALSE(has(s, "tcp dport"));   // no TCP fallback port given
  ks.server_tcp_port = 443;
  CHECK(has(text(killswitch_script(ks)), "meta mark 0x00007074 ip daddr 198.18.0.2 tcp dport 443 accept"));
  ks.server_tcp_port = 0;
  CHECK(has(s, "udp sport 68 udp dport 67 accept"));
  CHECK(has(s, "udp sport 546 udp dport 547 accept"));
  CHECK(has(s, "nd-neighbor-solicit"));
  CHECK_FALSE(has(s, "ip daddr {"));   // no local networks unless asked
  ks.server = *Endpoint::parse("[fd00:18::2]:4433");
  ks.local_networks = {*Cidr::parse("192.168.1.0/24"), *Cidr::parse("fe80::/64")};
  s = text(killswitch_script(ks));
  CHECK(has(s, "meta mark 0x00007074 ip6 daddr fd00:18::2 udp dport 4433 accept"));
  CHECK(has(s, "ip daddr { 192.168.1.0/24 } accept"));
  CHECK(has(s, "ip6 daddr { fe80::/64 } accept"));
  // A server name not resolved yet: no server exception at all (nothing else gets out).
  ks.server = Endpoint{};
  s = text(killswitch_script(ks));
  CHECK_FALSE(has(s, "meta mark"));
  CHECK_FALSE(has(s, "udp dport 4433"));
  CHECK(has(s, "oifname \"ptun0\" accept\n    udp sport 68"));
  // ...unless the system's resolvers are known: its lookup, port 53 only, to them only.
  ks.resolvers = {*IpAddr::parse("198.18.3.53"), *IpAddr::parse("2001:db8::53"), *IpAddr::parse("9.9.9.9")};
  s = text(killswitch_script(ks));
  CHECK(has(s, "ip daddr { 198.18.3.53, 9.9.9.9 } meta l4proto { udp, tcp } th dport 53 accept\n"));
  CHECK(has(s, "ip6 daddr { 2001:db8::53 } meta l4proto { udp, tcp } th dport 53 accept\n"));
  // Once the server has an address, the resolvers are shut out again.
  ks.server = *Endpoint::parse("198.18.0.2:4433");
  s = text(killswitch_script(ks));
  CHECK_FALSE(has(s, "dport 53"));
  CHECK(has(s, "meta mark 0x00007074 ip daddr 198.18.0.2 udp dport 4433 accept"));
}

TEST_CASE("enforced routes ruleset", "[firewall]") {
  EnforceSpec e;
  e.table = instance_nft_table("ptun0");
  e.tun_iface = "ptun0";
  e.fwmark = 0x7074;
  e.included = {*Cidr::parse("10.0.0.0/8"), *Cidr::parse("fd99::/64")};
  e.excluded = {*Cidr::parse("10.5.0.0/16")};
  auto s = text(enforce_script(e));
  CHECK(has(s, "policy accept;"));
  CHECK(has(s, "meta mark 0x00007074 accept"));
  CHECK(has(s, "ip daddr { 10.5.0.0/16 } oifname \"ptun0\" counter drop"));
  CHECK(has(s, "ip daddr { 10.0.0.0/8 } oifname != \"ptun0\" counter drop"));
  CHECK(has(s, "ip6 daddr { fd99::/64 } oifname != \"ptun0\" counter drop"));
  // the exclusion is decided before the inclusion that contains it
  CHECK(s.find("10.5.0.0/16") < s.find("10.0.0.0/8"));
}

TEST_CASE("rulesets are refused, not written, for names nft cannot take", "[firewall]") {
  KillSwitchSpec ks;
  ks.table = "ptun_ptun0";
  ks.tun_iface = "a\" accept\n";
  CHECK(killswitch_script(ks).error().code == Errc::invalid_argument);
  EnforceSpec e;
  e.table = "ptun ptun0";
  e.tun_iface = "ptun0";
  CHECK(enforce_script(e).error().code == Errc::invalid_argument);
  e.table = "ptun_ptun0";
  CHECK(enforce_script(e).ok());
}

TEST_CASE("interface names safe for nft", "[firewall]") {
  CHECK(valid_ifname("ptun0"));
  CHECK(valid_ifname("tun-a.b_c"));
  CHECK_FALSE(valid_ifname(""));
  CHECK_FALSE(valid_ifname("a\"b"));
  CHECK_FALSE(valid_ifname("sixteen-chars-xx"));
}

TEST_CASE("nftables tables are named per instance, always valid and distinct", "[firewall]") {
  CHECK(instance_nft_table("ptun0") == "ptun_ptun0");
  CHECK(instance_nft_table("ptun0", "apps") == "ptun_ptun0_apps");
  CHECK(instance_nft_table("wg_1") == "ptun_wg_1");
  // Names that had to change carry a hash of the original, so they cannot meet.
  const std::vector<std::string> ifs = {"ptun-0", "ptun_0", "Ptun0", "ptun.0", "PTUN-0", "abcdefghijklmno", "A-B.C-D.E-F.G-H"};
  std::set<std::string> seen;
  for (const auto& i : ifs) {
    REQUIRE(valid_ifname(i));
    for (const char* suffix : {"", "apps"}) {
      auto t = instance_nft_table(i, suffix);
      INFO(i << " -> " << t);
      CHECK(is_ptun_nft_name(t));   // what a journal replay accepts
      CHECK(seen.insert(t).second);
    }
  }
}
