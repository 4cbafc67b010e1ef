// `ptun doctor`'s judging half (netcfg/doctor.hpp): a healthy full tunnel is clean, each planted
// fault is one finding with a reason a user can act on.
#include <catch2/catch.hpp>

#include "netcfg/doctor.hpp"
#include "doctor_checks.hpp"

using namespace ptun;
using namespace ptun::netcfg::doctor;
using ptun::netcfg::doctor::test::find;

namespace {

constexpr int kTun = 9, kEth = 2;

IpAddr A(const char* s) { return *IpAddr::parse(s); }

Lookup via(const char* what, const char* dst, int ifindex, const char* ifname) {
  Lookup l;
  l.what = what;
  l.dst = A(dst);
  l.found = true;
  l.ifindex = ifindex;
  l.ifname = ifname;
  return l;
}

Facts healthy() {
  Facts f;
  f.state = "connected";
  f.tun_ifindex = kTun;
  f.tun_iface = "ptun0";
  f.full_tunnel = true;
  f.kill_switch_wanted = true;
  f.kill_switch_present = true;
  f.kill_switch_table = "ptun_ptun0";
  f.pushed_dns = {A("10.99.0.1")};
  f.resolvers = {via("dns 10.99.0.1", "10.99.0.1", kTun, "ptun0")};
  f.probes = {via("udp 192.0.2.1:443", "192.0.2.1", kTun, "ptun0"), via("tcp 192.0.2.1:443", "192.0.2.1", kTun, "ptun0")};
  f.now = 1'000'000'000;
  f.cert_not_after = f.now + 365 * 86400;
  f.tun_mtu = 1400;
  f.mtu_crossed = 1400;
  f.mtu6_crossed = 1400;
  f.clock_skew = 1;
  Facts::DnsAnswer a;
  a.server = A("10.99.0.1");
  a.name = "vpn.example.com";
  a.answered = true;
  a.ms = 4;
  f.dns_answers = {a};
  return f;
}

}  // namespace

TEST_CASE("doctor: a healthy full tunnel has no finding", "[doctor]") {
  auto checks = evaluate(healthy());
  for (const auto& c : checks) INFO(c.name << ": " << c.detail);
  CHECK(findings(checks) == 0);
  CHECK(find(checks, "clock skew").detail == "this host's clock agrees with the server's");
  CHECK(find(checks, "dns answers").detail == "vpn.example.com A: answered by 10.99.0.1 (4 ms)");
  CHECK(find(checks, "mtu").detail == "1400-byte packets (the TUN's MTU) cross the tunnel with DF set");
  CHECK(find(checks, "mtu ipv6").detail == "1400-byte packets (the TUN's MTU) cross the tunnel over IPv6 (no fragmentation)");
  // An older server sends no time; a tunnel without IPv6 has no IPv6 probe: said, not hidden.
  auto f = healthy();
  f.clock_skew.reset();
  f.mtu6_crossed.reset();
  f.mtu6_note = "not measured: the server pushed no IPv6 tunnel address to ping";
  auto c = evaluate(f);
  CHECK(findings(c) == 0);
  CHECK(find(c, "clock skew").result == Outcome::skipped);
  CHECK(find(c, "mtu ipv6").detail == f.mtu6_note);
}

TEST_CASE("doctor: each planted fault is one finding", "[doctor]") {
  auto f = healthy();
  SECTION("a more specific route outside the tunnel") {
    f.overrides = {"203.0.113.7/32 via 198.18.0.2 dev eth0 beats 0.0.0.0/0"};
    f.probes.push_back(via("udp 203.0.113.7:443", "203.0.113.7", kEth, "eth0"));
    auto c = evaluate(f);
    CHECK(find(c, "route overrides").result == Outcome::fail);
    CHECK_THAT(find(c, "route overrides").detail, Catch::Contains("203.0.113.7/32"));
    CHECK(find(c, "leak probes").result == Outcome::fail);
    CHECK_THAT(find(c, "leak probes").detail, Catch::Contains("udp 203.0.113.7:443 via eth0"));
    CHECK(findings(c) == 2);
  }
  SECTION("a resolver outside the tunnel") {
    f.resolvers.push_back(via("dns 198.18.0.2", "198.18.0.2", kEth, "eth0"));
    auto c = evaluate(f);
    CHECK(findings(c) == 1);
    CHECK_THAT(find(c, "dns").detail, Catch::StartsWith("resolvers outside the tunnel: 198.18.0.2 via eth0"));
  }
  SECTION("a missing kill switch table") {
    f.kill_switch_present = false;
    auto c = evaluate(f);
    CHECK(findings(c) == 1);
    CHECK_THAT(find(c, "kill switch").detail, Catch::Contains("ptun_ptun0 is missing"));
  }
  SECTION("a certificate about to expire, or expired") {
    f.cert_not_after = f.now + 3 * 86400;
    CHECK(find(evaluate(f), "certificate").result == Outcome::fail);
    f.cert_not_after = f.now - 86400;
    CHECK(find(evaluate(f), "certificate").detail == "expired 1 day(s) ago");
    f.cert_not_after.reset();
    f.cert_error = "no such file";
    CHECK(find(evaluate(f), "certificate").result == Outcome::fail);
  }
  SECTION("an MTU the tunnel does not carry") {
    f.mtu_crossed = 1200;
    CHECK(find(evaluate(f), "mtu").result == Outcome::fail);
    f.mtu_crossed = 0;
    CHECK(find(evaluate(f), "mtu").detail == "no ping crossed the tunnel with DF set");
  }
  SECTION("a clock minutes off the server's") {
    f.clock_skew = 600;
    auto c = evaluate(f);
    CHECK(findings(c) == 1);
    CHECK_THAT(find(c, "clock skew").detail, Catch::StartsWith("this host's clock is 600 s behind the server's"));
    f.clock_skew = -kSkewWarnSecs;   // at the limit: still fine
    CHECK(find(evaluate(f), "clock skew").detail == "this host's clock is 120 s ahead of the server's");
    CHECK(findings(evaluate(f)) == 0);
  }
  SECTION("a resolver that does not answer, or refuses") {
    Facts::DnsAnswer silent;
    silent.server = A("10.99.0.53");
    silent.name = "vpn.example.com";
    f.dns_answers.push_back(silent);
    auto refusing = silent;
    refusing.server = A("10.99.0.54");
    refusing.answered = true;
    refusing.rcode = 5;
    f.dns_answers.push_back(refusing);
    auto c = evaluate(f);
    CHECK(findings(c) == 1);
    CHECK(find(c, "dns answers").detail ==
          "vpn.example.com A: answered by 10.99.0.1 (4 ms); not by 10.99.0.53: no answer; 10.99.0.54: RCODE 5 (refused)");
    f.dns_answers.erase(f.dns_answers.begin());
    CHECK_THAT(find(evaluate(f), "dns answers").detail, Catch::StartsWith("vpn.example.com A: no resolver answers"));
  }
  SECTION("an IPv6 path narrower than the TUN") {
    f.mtu6_crossed = 1280;
    auto c = evaluate(f);
    CHECK(findings(c) == 1);
    CHECK(find(c, "mtu ipv6").detail == "only 1280-byte packets cross the tunnel, the TUN's MTU is 1400");
  }
  SECTION("not connected") {
    f.state = "reasserting";
    auto c = evaluate(f);
    CHECK(c.front().result == Outcome::fail);
    CHECK(c.front().detail == "the client is reasserting");
  }
}

TEST_CASE("doctor: what is not a finding", "[doctor]") {
  auto f = healthy();
  // A local resolver (ptun's split-DNS forwarder, a stub), an unreachable probe (fails closed),
  // overrides the kill switch drops, no kill switch when include_all_networks is off.
  f.resolvers.push_back(via("dns 127.80.116.53", "127.80.116.53", 1, "lo"));
  auto closed = via("udp 2001:db8::1:443", "2001:db8::1", 0, "");
  closed.unicast = false;
  f.probes.push_back(closed);
  f.overrides_dropped = 3;
  f.kill_switch_wanted = false;
  f.kill_switch_present.reset();
  auto c = evaluate(f);
  CHECK(findings(c) == 0);
  CHECK_THAT(find(c, "route overrides").detail, Catch::Contains("3 more dropped by the kill switch"));
  CHECK(find(c, "kill switch").result == Outcome::skipped);
  SECTION("split tunnel without pushed DNS: the LAN's resolver is expected") {
    f.full_tunnel = false;
    f.pushed_dns.clear();
    f.resolvers = {via("dns 192.168.1.1", "192.168.1.1", kEth, "eth0")};
    CHECK(findings(evaluate(f)) == 0);
  }
}

TEST_CASE("doctor: probe addresses", "[doctor]") {
  CHECK(probe_address(*Cidr::parse("0.0.0.0/0")) == A("192.0.2.1"));
  CHECK(probe_address(*Cidr::parse("::/0")) == A("2001:db8::1"));
  CHECK(probe_address(*Cidr::parse("10.0.0.0/8")) == A("10.0.0.1"));
  CHECK(probe_address(*Cidr::parse("10.9.9.9/32")) == A("10.9.9.9"));
  CHECK(probe_address(*Cidr::parse("fd00::/64")) == A("fd00::1"));
}
