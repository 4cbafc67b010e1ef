// ClientHost over a recording fake host (no root): the values it is given, update() on reload and
// update_server() for a server that moved (failover, a reload, a name resolving anew).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <map>

#include "core/loop.hpp"
#include "netcfg/client_host.hpp"
#include "netcfg/firewall.hpp"

using namespace ptun;
using namespace ptun::netcfg;

namespace {

// Records every change; nft scripts are kept whole (the kill switch's text says whom it lets
// through). Fails the next nft call on demand.
struct Recorder final : HostOps {
  std::vector<netlink::Route> routes;
  std::vector<netlink::Rule> rules;
  std::vector<std::string> nft_log;
  std::map<std::string, std::string> files;
  bool fail_nft = false;
  Result<void> route_add(const netlink::Route& r) override {
    std::erase(routes, r);
    routes.push_back(r);
    return {};
  }
  Result<void> route_del(const netlink::Route& r) override {
    return std::erase(routes, r) ? Result<void>() : Error(Errc::not_found, "no route");
  }
  Result<void> rule_add(const netlink::Rule& r) override {
    rules.push_back(r);
    return {};
  }
  Result<void> rule_del(const netlink::Rule& r) override {
    return std::erase(rules, r) ? Result<void>() : Error(Errc::not_found, "no rule");
  }
  Result<void> nft(const std::string& script) override {
    if (fail_nft) return Error(Errc::io, "nft: injected failure");
    nft_log.push_back(script);
    return {};
  }
  Result<std::optional<std::string>> read_file(const std::string& p) override {
    auto it = files.find(p);
    if (it == files.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Result<void> write_file(const std::string& p, const std::string& d) override {
    files[p] = d;
    return {};
  }
  Result<void> remove_file(const std::string& p) override {
    files.erase(p);
    return {};
  }
  Result<void> run(const std::vector<std::string>&) override { return {}; }
};

// One uplink (eth0, ifindex 2, 192.168.1.10/24, gateway 192.168.1.1); no systemd-resolved.
struct FakeProbe final : HostProbe {
  std::vector<IpAddr> asked;   // route_get destinations, in order
  Result<std::vector<netlink::AddrInfo>> addrs() override {
    netlink::AddrInfo a;
    a.ifindex = 2;
    a.addr = *Cidr::parse_interface("192.168.1.10/24");
    return std::vector<netlink::AddrInfo>{a};
  }
  Result<netlink::Route> route_get(const IpAddr& dst, uint32_t) override {
    asked.push_back(dst);
    netlink::Route r;
    r.dst = Cidr{dst, 32};
    r.ifindex = 2;
    r.gateway = *IpAddr::parse("192.168.1.1");
    return r;
  }
  bool resolved_running() override { return false; }
};

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/ptun-clienthost-XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() {
    ::unlink((path + "/" + kJournalName).c_str());
    ::unlink((path + "/" + kJournalName + ".tmp").c_str());
    ::rmdir(path.c_str());
  }
};

Endpoint ep(const char* s) { return *Endpoint::parse(s); }

HostValues values(const std::string& state_dir, bool kill_switch) {
  HostValues v;
  v.interface = "ptun-t0";
  v.state_dir = state_dir;
  v.server_tcp_port = 443;
  v.protocol.include_all_networks = kill_switch;
  return v;
}

// A push that carries the underlay's 198.18.0.0/15 (so the server needs a host route around it).
proto::NetworkSettings settings() {
  proto::NetworkSettings s;
  s.ipv4 = *Cidr::parse_interface("10.99.0.2/24");
  s.included_routes = {*Cidr::parse("198.18.0.0/15")};
  s.dns_servers = {*IpAddr::parse("10.99.0.1")};
  return s;
}

bool has_route(const Recorder& h, const char* dst) {
  for (const auto& r : h.routes)
    if (r.dst == *Cidr::parse(dst)) return true;
  return false;
}

struct Fixture {
  TempDir dir;
  core::Loop loop;
  Recorder* ops = nullptr;
  FakeProbe* probe = nullptr;
  std::unique_ptr<ClientHost> host;
  Result<void> open(const HostValues& v, const Endpoint& server) {
    auto o = std::make_unique<Recorder>();
    auto p = std::make_unique<FakeProbe>();
    ops = o.get();
    probe = p.get();
    auto h = ClientHost::open(loop, std::move(o), std::move(p), v, server);
    if (!h) return h.error();
    host = std::move(*h);
    return {};
  }
  ~Fixture() {
    if (host) host->shutdown(true);
  }
};

}  // namespace

TEST_CASE("HostValues: built from the config, only [routes] and [dns] may change while running",
          "[client_host]") {
  config::ClientConfig cfg;
  cfg.tunnel.interface = "ptun7";
  cfg.tunnel.fwmark = 0x77;
  cfg.tunnel.table = 777;
  cfg.tcp_port = 8443;
  cfg.state_dir = "/var/lib/x";
  cfg.routes.include = {*Cidr::parse("10.1.0.0/16")};
  cfg.dns.backend = "dnsmasq";
  cfg.protocol.always_on = true;
  HostValues v = HostValues::from_config(cfg);
  CHECK(v.interface == "ptun7");
  CHECK(v.fwmark == 0x77);
  CHECK(v.table == 777);
  CHECK(v.server_tcp_port == 8443);
  CHECK(v.state_dir == "/var/lib/x");
  CHECK(v.routes == cfg.routes);
  CHECK(v.dns == cfg.dns);
  CHECK(v.protocol == cfg.protocol);

  HostValues n = v;
  n.routes.exclude = {*Cidr::parse("10.1.2.0/24")};
  n.dns.servers = {*IpAddr::parse("10.1.0.53")};
  n.dns.backend = "auto";
  CHECK(check_update(v, n));
  auto refused = [&](auto change) {
    HostValues b = v;
    change(b);
    auto r = check_update(v, b);
    return !r && r.error().code == Errc::invalid_argument;
  };
  CHECK(refused([](HostValues& b) { b.interface = "ptun8"; }));
  CHECK(refused([](HostValues& b) { b.fwmark = 1; }));
  CHECK(refused([](HostValues& b) { b.table = 1; }));
  CHECK(refused([](HostValues& b) { b.server_tcp_port = 0; }));
  CHECK(refused([](HostValues& b) { b.state_dir = "/tmp"; }));
  CHECK(refused([](HostValues& b) { b.protocol.include_all_networks = true; }));
  CHECK(refused([](HostValues& b) { b.protocol.protect_routes = false; }));
}

TEST_CASE("ClientHost: update_server lets the new server through the kill switch, not the old one",
          "[client_host]") {
  Fixture f;
  REQUIRE(f.open(values(f.dir.path, true), ep("198.18.0.1:4433")));
  REQUIRE(f.host->kill_switch());
  REQUIRE(f.ops->nft_log.size() == 1);
  CHECK(f.ops->nft_log[0].find("daddr 198.18.0.1 udp dport 4433 accept") != std::string::npos);
  CHECK(f.ops->nft_log[0].find("daddr 198.18.0.1 tcp dport 443 accept") != std::string::npos);

  // Failover to the second server: one atomic replacement of the table.
  REQUIRE(f.host->update_server(ep("198.19.0.7:5555")));
  REQUIRE(f.ops->nft_log.size() == 2);
  const std::string& ks = f.ops->nft_log[1];
  CHECK(ks.find("flush table inet " + f.host->nft_table()) != std::string::npos);
  CHECK(ks.find("daddr 198.19.0.7 udp dport 5555 accept") != std::string::npos);
  CHECK(ks.find("198.18.0.1") == std::string::npos);
  CHECK(f.host->server() == ep("198.19.0.7:5555"));

  // The same server again: nothing to do.
  REQUIRE(f.host->update_server(ep("198.19.0.7:5555")));
  CHECK(f.ops->nft_log.size() == 2);

  // nft refuses: the old server stays the one let through, and update_server says so.
  f.ops->fail_nft = true;
  auto r = f.host->update_server(ep("198.18.0.2:4433"));
  CHECK_FALSE(r);
  CHECK(f.host->server() == ep("198.19.0.7:5555"));
  CHECK(f.ops->nft_log.size() == 2);
  f.ops->fail_nft = false;
}

TEST_CASE("ClientHost: a name not resolved yet lets its resolvers through, the address replaces them",
          "[client_host]") {
  Fixture f;
  // open() reads resolv.conf through the ops: give the recorder one before it is made.
  auto o = std::make_unique<Recorder>();
  o->files[kResolvConf] = "nameserver 192.0.2.53\n";
  f.ops = o.get();
  auto p = std::make_unique<FakeProbe>();
  auto h = ClientHost::open(f.loop, std::move(o), std::move(p), values(f.dir.path, true), Endpoint{});
  REQUIRE(h);
  f.host = std::move(*h);
  REQUIRE(f.ops->nft_log.size() == 1);
  CHECK(f.ops->nft_log[0].find("192.0.2.53") != std::string::npos);
  CHECK(f.ops->nft_log[0].find("udp dport 4433") == std::string::npos);

  REQUIRE(f.host->update_server(ep("198.18.0.1:4433")));
  REQUIRE(f.ops->nft_log.size() == 2);
  CHECK(f.ops->nft_log[1].find("daddr 198.18.0.1 udp dport 4433 accept") != std::string::npos);
  CHECK(f.ops->nft_log[1].find("192.0.2.53") == std::string::npos);
}

TEST_CASE("ClientHost: without a kill switch update_server changes no firewall, the next apply routes around the new server",
          "[client_host]") {
  Fixture f;
  REQUIRE(f.open(values(f.dir.path, false), ep("198.18.0.1:4433")));
  CHECK_FALSE(f.host->kill_switch());
  REQUIRE(f.host->apply(settings(), 9));
  CHECK(has_route(*f.ops, "198.18.0.1/32"));   // the host route around the tunnel's 198.18.0.0/15
  CHECK(has_route(*f.ops, "198.18.0.0/15"));

  REQUIRE(f.host->update_server(ep("198.19.0.7:4433")));
  CHECK(f.ops->nft_log.empty());
  REQUIRE(f.host->apply(settings(), 9));
  CHECK(has_route(*f.ops, "198.19.0.7/32"));
  CHECK_FALSE(has_route(*f.ops, "198.18.0.1/32"));
  CHECK(f.probe->asked.back() == *IpAddr::parse("198.19.0.7"));
}

TEST_CASE("ClientHost: update takes new [routes] and [dns] for the next apply, refuses the rest unchanged",
          "[client_host]") {
  Fixture f;
  HostValues v = values(f.dir.path, false);
  REQUIRE(f.open(v, ep("198.18.0.1:4433")));
  REQUIRE(f.host->apply(settings(), 9));
  CHECK_FALSE(has_route(*f.ops, "172.16.0.0/12"));
  CHECK(f.ops->files[kResolvConf].find("nameserver 10.99.0.1") != std::string::npos);
  CHECK(f.ops->files[kResolvConf].find("10.99.0.53") == std::string::npos);

  HostValues n = v;
  n.routes.include = {*Cidr::parse("172.16.0.0/12")};
  n.dns.servers = {*IpAddr::parse("10.99.0.53")};
  REQUIRE(f.host->update(n));
  CHECK(f.host->values() == n);
  f.host->clear();
  REQUIRE(f.host->apply(settings(), 9));
  CHECK(has_route(*f.ops, "172.16.0.0/12"));
  CHECK(f.ops->files[kResolvConf].find("nameserver 10.99.0.53") != std::string::npos);

  HostValues bad = n;
  bad.interface = "ptun-t1";
  bad.routes.include.clear();
  CHECK_FALSE(f.host->update(bad));
  CHECK(f.host->values() == n);   // nothing taken, the routes neither
}
