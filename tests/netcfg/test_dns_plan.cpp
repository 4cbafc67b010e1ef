#include <catch2/catch.hpp>

#include "netcfg/dns_message.hpp"
#include "netcfg/dns_plan.hpp"

using namespace ptun;
using namespace ptun::netcfg;

namespace {
IpAddr A(const char* s) { return *IpAddr::parse(s); }
}  // namespace

TEST_CASE("DNS modes follow Apple's semantics", "[dns]") {
  DnsInputs in;
  auto p = plan_dns(in);
  REQUIRE(p);
  CHECK(p->mode == DnsMode::none);
  in.search_domains = {"corp.example"};
  p = plan_dns(in);
  REQUIRE(p);
  CHECK(p->mode == DnsMode::none);   // no servers: the host's DNS stays as it is
  in.servers = {A("10.99.0.1"), A("10.99.0.1")};
  p = plan_dns(in);
  REQUIRE(p);
  CHECK(p->mode == DnsMode::full);
  CHECK(p->servers.size() == 1);
  in.match_domains = {"Corp.Example.", "lab.example"};
  p = plan_dns(in);
  REQUIRE(p);
  CHECK(p->mode == DnsMode::split);
  CHECK(p->match_domains == std::vector<std::string>{"corp.example", "lab.example"});
  in.match_domains.push_back("");   // "" = all names
  p = plan_dns(in);
  REQUIRE(p);
  CHECK(p->mode == DnsMode::full);
  CHECK(p->match_domains.empty());
  in.match_domains = {"bad domain"};
  auto bad = plan_dns(in);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("bad domain") != std::string::npos);
}

TEST_CASE("name matching is by whole labels, case-insensitive", "[dns]") {
  CHECK(name_matches("host.corp.example", "corp.example"));
  CHECK(name_matches("HOST.Corp.Example.", "corp.example"));
  CHECK(name_matches("corp.example", "corp.example."));
  CHECK_FALSE(name_matches("evilcorp.example", "corp.example"));
  CHECK_FALSE(name_matches("example", "corp.example"));
  CHECK(name_matches("anything", ""));
}

TEST_CASE("resolv.conf rendering and original nameservers", "[dns]") {
  std::string orig = "# generated\nnameserver 192.0.2.53\nnameserver  fe80::1%eth0\nsearch home.arpa\noptions edns0\n";
  auto ns = parse_nameservers(orig);
  REQUIRE(ns == std::vector<IpAddr>{A("192.0.2.53"), A("fe80::1")});
  DnsPlan full;
  full.mode = DnsMode::full;
  full.servers = {A("10.99.0.1"), A("10.99.0.2"), A("10.99.0.3"), A("10.99.0.4")};
  full.search_domains = {"corp.example"};
  auto text = render_resolv_conf(full, orig);
  CHECK(text.find("nameserver 10.99.0.1\n") != std::string::npos);
  CHECK(text.find("# nameserver (glibc reads 3) 10.99.0.4\n") != std::string::npos);
  CHECK(text.find("192.0.2.53") == std::string::npos);
  CHECK(text.find("search corp.example\n") != std::string::npos);
  CHECK(text.find("options edns0\n") != std::string::npos);
  DnsPlan split = full;
  split.mode = DnsMode::split;
  split.match_domains = {"corp.example"};
  text = render_resolv_conf(split, orig);
  CHECK(text.find(std::string("nameserver ") + kForwarderAddr + "\n") != std::string::npos);
  CHECK(parse_nameservers(text).size() == 1);
  CHECK(text.find("search corp.example home.arpa\n") != std::string::npos);
}

// systemd-resolved does not run on the build machines: this is what its back end sends.
TEST_CASE("systemd-resolved commands: per-link DNS and routing domains", "[dns]") {
  DnsPlan full;
  full.mode = DnsMode::full;
  full.servers = {A("10.99.0.1"), A("fd99::1")};
  full.search_domains = {"corp.example"};
  auto cmds = resolved_commands(full, "ptun0");
  REQUIRE(cmds.size() == 3);
  CHECK(cmds[0] == std::vector<std::string>{"resolvectl", "dns", "ptun0", "10.99.0.1", "fd99::1"});
  CHECK(cmds[1] == std::vector<std::string>{"resolvectl", "domain", "ptun0", "corp.example", "~."});
  CHECK(cmds[2] == std::vector<std::string>{"resolvectl", "default-route", "ptun0", "yes"});
  DnsPlan split = full;
  split.mode = DnsMode::split;
  split.match_domains = {"corp.example", "lab.example"};
  cmds = resolved_commands(split, "ptun0");
  CHECK(cmds[1] == std::vector<std::string>{"resolvectl", "domain", "ptun0", "corp.example", "~corp.example", "~lab.example"});
  CHECK(cmds[2] == std::vector<std::string>{"resolvectl", "default-route", "ptun0", "no"});
  CHECK(resolved_commands(DnsPlan{}, "ptun0").empty());
  CHECK(resolved_revert_command("ptun0") == std::vector<std::string>{"resolvectl", "revert", "ptun0"});
}

namespace {
std::vector<uint8_t> query(uint16_t id, std::initializer_list<const char*> labels) {
  std::vector<uint8_t> m = {uint8_t(id >> 8), uint8_t(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  for (const char* l : labels) {
    m.push_back(uint8_t(strlen(l)));
    m.insert(m.end(), l, l + strlen(l));
  }
  m.insert(m.end(), {0, 0, 1, 0, 1});
  return m;
}
}  // namespace

TEST_CASE("DNS query parser", "[dns]") {
  auto m = query(0x1234, {"WWW", "corp", "example"});
  auto q = parse_dns_query(m);
  REQUIRE(q);
  CHECK(q->id == 0x1234);
  CHECK(q->name == "www.corp.example");
  CHECK(q->qtype == 1);
  auto root = query(1, {});
  REQUIRE(parse_dns_query(root));
  CHECK(parse_dns_query(root)->name.empty());
  SECTION("rejections") {
    auto r = m;
    r[2] |= 0x80;
    CHECK_FALSE(parse_dns_query(r));                                      // a response
    CHECK_FALSE(parse_dns_query(std::span(m).first(11)));                 // short header
    CHECK_FALSE(parse_dns_query(std::span(m).first(m.size() - 1)));       // short question
    CHECK_FALSE(parse_dns_query(std::span(m).first(15)));                 // truncated label
    auto p = m;
    p[12] = 0xc0;
    CHECK_FALSE(parse_dns_query(p));                                      // a pointer
    auto z = m;
    z[5] = 0;
    CHECK_FALSE(parse_dns_query(z));                                      // no question
    auto bad = query(1, {"a b"});
    CHECK_FALSE(parse_dns_query(bad));
    std::string l63(63, 'a');
    auto longname = query(1, {l63.c_str(), l63.c_str(), l63.c_str(), l63.c_str()});
    CHECK_FALSE(parse_dns_query(longname));                               // 255 > 253
  }
}

TEST_CASE("build_dns_query: what doctor asks parses back, bad names give nothing", "[dns]") {
  auto q = build_dns_query(0xbeef, "vpn.Example.com", 1);
  REQUIRE(q.size() == 12 + 17 + 4);
  auto p = parse_dns_query(q);
  REQUIRE(p);
  CHECK(p->id == 0xbeef);
  CHECK(p->name == "vpn.example.com");
  CHECK(p->qtype == 1);
  CHECK(p->qclass == 1);
  CHECK((q[2] & 0x01) == 0x01);   // recursion desired
  CHECK(dns_rcode(q) == 0);
  CHECK(build_dns_query(1, "", 2).size() == 12 + 1 + 4);   // the root
  CHECK(build_dns_query(1, "a..b", 1).empty());
  CHECK(build_dns_query(1, std::string(64, 'a') + ".com", 1).empty());
  CHECK(build_dns_query(1, "bad name.com", 1).empty());
  std::vector<uint8_t> refused = q;
  refused[2] |= 0x80;
  refused[3] = 0x05;
  CHECK(dns_rcode(refused) == 5);
  CHECK(dns_rcode(std::vector<uint8_t>{1, 2}) == 0xff);
}
