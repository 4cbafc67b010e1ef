// `ptun doctor` on a server (netcfg/server_doctor.hpp): the firewall facts read from `nft -j list
// ruleset` (the JSON below has the shapes nft 1.0.6 prints, iptables-nft rules included), and
// each "connected but no traffic" cause of docs/deploy.md as one finding.
#include <catch2/catch.hpp>

#include "netcfg/server_doctor.hpp"
#include "doctor_checks.hpp"

using namespace ptun;
using namespace ptun::netcfg::doctor;
using ptun::netcfg::doctor::test::find;

namespace {

// inet filter: input drops by default, accepts udp dport {22, 4433}; forward drops, accepts
// iifname "ptun-s0". ip filter (iptables-nft, e.g. Docker): FORWARD policy drop, no rule for the
// tunnel. ptun's own kill switch table (forward, drop) is not the host's firewall.
const char* kRuleset = R"({"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
 {"table": {"family": "inet", "name": "filter", "handle": 1}},
 {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
 {"chain": {"family": "inet", "table": "filter", "name": "forward", "handle": 2, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
 {"chain": {"family": "inet", "table": "filter", "name": "helper", "handle": 3}},
 {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 4, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": {"set": [22, 4433]}}}, {"accept": null}]}},
 {"rule": {"family": "inet", "table": "filter", "chain": "helper", "handle": 5, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "ptun-s0"}}, {"accept": null}]}},
 {"table": {"family": "ip", "name": "filter", "handle": 2}},
 {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 3, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
 {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 4, "expr": [{"jump": {"target": "DOCKER-USER"}}]}},
 {"table": {"family": "inet", "name": "ptun_ptun0", "handle": 3}},
 {"chain": {"family": "inet", "table": "ptun_ptun0", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": -10, "policy": "drop"}}
]})";

const FirewallChain& chain(const std::vector<FirewallChain>& v, const std::string& family, const std::string& name) {
  for (const auto& c : v)
    if (c.family == family && c.name == name) return c;
  FAIL("no chain " << family << " " << name);
  return v.front();
}

ServerFacts healthy() {
  ServerFacts f;
  f.sessions = 2;
  f.tun_iface = "ptun-s0";
  f.port = 4433;
  f.v4_pool = f.v6_pool = true;
  f.ip_forward = f.ip6_forward = true;
  f.masquerade_wanted = true;
  f.masquerade_present = true;
  f.masquerade_table = "ptun_ptun_s0";
  f.dns_proxy_running = true;
  f.now = 1'000'000'000;
  f.cert_not_after = f.now + 400 * 86400;
  return f;
}

}  // namespace

TEST_CASE("server doctor: input/forward base chains and what their tables name", "[doctor]") {
  auto v = firewall_chains(kRuleset, "ptun-s0", 4433);
  REQUIRE(v);
  REQUIRE(v->size() == 3);   // inet filter input+forward, ip filter FORWARD; not ptun's, not regular chains
  const auto& in = chain(*v, "inet", "input");
  CHECK((in.hook == "input" && in.drop_policy && in.table_names_port && in.table_names_iface));
  const auto& docker = chain(*v, "ip", "FORWARD");
  CHECK((docker.drop_policy && !docker.table_names_iface && !docker.table_names_port));
  CHECK_FALSE(chain(*firewall_chains(kRuleset, "ptun-s0", 51820), "inet", "input").table_names_port);
  CHECK_FALSE(chain(*firewall_chains(kRuleset, "tun7", 4433), "inet", "forward").table_names_iface);
  CHECK_FALSE(firewall_chains("not json", "ptun-s0", 4433));
  CHECK_FALSE(firewall_chains(R"({"other": []})", "ptun-s0", 4433));
  CHECK(firewall_chains(R"({"nftables": [{"metainfo": {}}]})", "ptun-s0", 4433)->empty());
  // A port range counts too.
  auto r = firewall_chains(R"({"nftables": [
    {"chain": {"family": "inet", "table": "f", "name": "in", "hook": "input", "policy": "drop"}},
    {"rule": {"family": "inet", "table": "f", "chain": "in", "expr": [{"match": {"left": {"payload": {"protocol": "th", "field": "dport"}}, "right": {"range": [4000, 4999]}}}]}}]})",
                           "ptun-s0", 4433);
  REQUIRE(r);
  CHECK(r->at(0).table_names_port);
}

TEST_CASE("server doctor: a healthy server has no finding, each fault is one", "[doctor]") {
  auto f = healthy();
  auto checks = evaluate_server(f);
  for (const auto& c : checks) INFO(c.name << ": " << c.detail);
  CHECK(findings(checks) == 0);
  CHECK(find(checks, "running").detail == "2 session(s), udp port 4433");
  SECTION("forwarding off") {
    f.ip_forward = false;
    auto c = evaluate_server(f);
    CHECK(findings(c) == 1);
    CHECK(find(c, "forwarding").detail == "net.ipv4.ip_forward is 0: clients reach the server but nothing beyond it");
  }
  SECTION("the masquerade table gone") {
    f.masquerade_present = false;
    CHECK_THAT(find(evaluate_server(f), "masquerade").detail, Catch::Contains("ptun_ptun_s0 is missing"));
  }
  SECTION("a forward chain that drops the tunnel's traffic (Docker's FORWARD policy)") {
    f.chains = *firewall_chains(kRuleset, "ptun-s0", 4433);
    auto c = evaluate_server(f);
    CHECK(findings(c) == 1);
    CHECK(find(c, "firewall").detail ==
          "ip filter FORWARD drops by default and no rule of its table names ptun-s0: clients' traffic beyond the "
          "server is dropped (docs/deploy.md, section 5)");
  }
  SECTION("an input chain that drops handshakes and the DNS proxy") {
    f.chains = {{"inet", "filter", "input", "input", true, false, false}};
    auto d = find(evaluate_server(f), "firewall").detail;
    CHECK_THAT(d, Catch::Contains("names udp port 4433: handshakes are dropped"));
    CHECK_THAT(d, Catch::Contains("names ptun-s0: the DNS proxy and pings to the server's tunnel address are dropped"));
  }
  SECTION("not running, certificate expired") {
    f.status_error = "cannot reach /run/ptun/server.sock";
    f.cert_not_after = f.now - 2 * 86400;
    auto c = evaluate_server(f);
    CHECK(findings(c) == 2);
    CHECK(find(c, "certificate").detail == "expired 2 day(s) ago: every client is refused");
  }
  SECTION("what is not a finding: accepting chains, userspace forwarding, no nft") {
    f.chains = {{"inet", "filter", "forward", "forward", false, false, false}};
    CHECK(findings(evaluate_server(f)) == 0);
    f.chains = {{"inet", "filter", "forward", "forward", true, false, false}};
    f.kernel_forwarding = false;
    f.ip_forward = false;
    CHECK(findings(evaluate_server(f)) == 0);
    f.kernel_forwarding = true;
    f.chains.clear();
    f.firewall_error = "nft is not installed";
    f.masquerade_present.reset();
    auto c = evaluate_server(f);
    CHECK(find(c, "firewall").result == Outcome::skipped);
    CHECK(find(c, "masquerade").result == Outcome::skipped);
  }
}
