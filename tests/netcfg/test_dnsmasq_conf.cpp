#include <catch2/catch.hpp>

#include "netcfg/dnsmasq_conf.hpp"

using namespace ptun;
using namespace ptun::netcfg;

namespace {
IpAddr A(const char* s) { return *IpAddr::parse(s); }

// The file a plan from these inputs renders to (plan_dns first, as ClientHost does).
std::string rendered(const DnsInputs& in) {
  auto p = plan_dns(in);
  REQUIRE(p);
  return render_dnsmasq_conf(*p, "ptun0");
}
}  // namespace

TEST_CASE("dnsmasq file: one per interface in the conf-dir", "[dns][dnsmasq]") {
  CHECK(dnsmasq_file_path("/tmp/dnsmasq.d", "ptun0") == "/tmp/dnsmasq.d/ptun-ptun0.conf");
  CHECK(dnsmasq_file_path("/tmp/dnsmasq.d//", "wg-x") == "/tmp/dnsmasq.d/ptun-wg-x.conf");
  CHECK(dnsmasq_file_path("/", "t") == "/ptun-t.conf");
}

TEST_CASE("dnsmasq file: split DNS sends each match domain to each pushed server", "[dns][dnsmasq]") {
  DnsInputs in;
  in.servers = {A("10.99.0.1"), A("fd99::1")};
  in.search_domains = {"corp.example"};
  in.match_domains = {"Corp.Example.", "lab.example"};
  CHECK(rendered(in) ==
        "# written by ptun for ptun0; removed when the tunnel goes down\n"
        "server=/corp.example/10.99.0.1\n"
        "server=/corp.example/fd99::1\n"
        "rebind-domain-ok=/corp.example/\n"
        "server=/lab.example/10.99.0.1\n"
        "server=/lab.example/fd99::1\n"
        "rebind-domain-ok=/lab.example/\n");
}

TEST_CASE("dnsmasq file: a full tunnel replaces the upstream resolvers", "[dns][dnsmasq]") {
  DnsInputs in;
  in.servers = {A("10.99.0.1"), A("10.99.0.2"), A("10.99.0.1")};
  in.search_domains = {"corp.example"};   // not dnsmasq's business: DHCP tells the LAN
  std::string text = rendered(in);
  CHECK(text ==
        "# written by ptun for ptun0; removed when the tunnel goes down\n"
        "no-resolv\n"
        "server=10.99.0.1\n"
        "server=10.99.0.2\n");
  in.match_domains = {"corp.example", ""};   // "" = all names: full again
  CHECK(rendered(in) == text);
}

TEST_CASE("dnsmasq file: no servers, no directives", "[dns][dnsmasq]") {
  DnsInputs in;
  in.match_domains = {"corp.example"};
  std::string text = rendered(in);
  CHECK(text.find("server=") == std::string::npos);
  CHECK(text.find("no-resolv") == std::string::npos);
}
