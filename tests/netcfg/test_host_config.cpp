#include <catch2/catch.hpp>

#include <unistd.h>

#include <map>

#include "netcfg/host_config.hpp"

using namespace ptun;
using namespace ptun::netcfg;

namespace {

// A host in memory: routes, rules, nft tables, files; fails the Nth mutating call on demand.
struct FakeHost final : HostOps {
  std::vector<netlink::Route> routes;
  std::vector<netlink::Rule> rules;
  std::vector<std::string> tables, nft_log;
  std::map<std::string, std::string> files;
  std::vector<std::vector<std::string>> commands;
  int fail_at = -1, calls = 0;

  Result<void> step() {
    if (calls++ == fail_at) return Error(Errc::io, "injected failure");
    return {};
  }
  Result<void> route_add(const netlink::Route& r) override {
    if (auto s = step(); !s) return s;
    std::erase(routes, r);
    routes.push_back(r);
    return {};
  }
  Result<void> route_del(const netlink::Route& r) override {
    auto n = std::erase(routes, r);
    return n ? Result<void>() : Error(Errc::not_found, "no route");
  }
  Result<void> rule_add(const netlink::Rule& r) override {
    if (auto s = step(); !s) return s;
    if (std::find(rules.begin(), rules.end(), r) != rules.end()) return Error(Errc::exists, "exists");
    rules.push_back(r);
    return {};
  }
  Result<void> rule_del(const netlink::Rule& r) override {
    auto n = std::erase(rules, r);
    return n ? Result<void>() : Error(Errc::not_found, "no rule");
  }
  Result<void> nft(const std::string& script) override {
    if (auto s = step(); !s) return s;
    nft_log.push_back(script);
    // understands the scripts netcfg writes: "add table inet X" ... "delete table inet X"
    if (script.find("delete table inet ") != std::string::npos) {
      std::string name = script.substr(script.rfind(' ') + 1);
      name.pop_back();
      std::erase(tables, name);
    } else if (script.rfind("add table inet ", 0) == 0) {
      std::string name = script.substr(15, script.find('\n') - 15);
      if (std::find(tables.begin(), tables.end(), name) == tables.end()) tables.push_back(name);
    }
    return {};
  }
  Result<std::optional<std::string>> read_file(const std::string& p) override {
    auto it = files.find(p);
    if (it == files.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Result<void> write_file(const std::string& p, const std::string& d) override {
    if (auto s = step(); !s) return s;
    files[p] = d;
    return {};
  }
  Result<void> remove_file(const std::string& p) override {
    files.erase(p);
    return {};
  }
  Result<void> run(const std::vector<std::string>& argv) override {
    commands.push_back(argv);
    if (!argv.empty() && argv[0] == fail_command) return Error(Errc::io, argv[0] + " failed: injected");
    return {};
  }
  std::string fail_command;
};

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/ptun-hostcfg-XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() {
    ::unlink((path + "/j").c_str());
    ::unlink((path + "/j.tmp").c_str());
    ::rmdir(path.c_str());
  }
};

netlink::Route route(const char* dst) {
  netlink::Route r;
  r.dst = *Cidr::parse(dst);
  r.ifindex = 9;
  return r;
}

netlink::Rule rule(uint32_t prio) {
  netlink::Rule r;
  r.priority = prio;
  r.table = 7074;
  return r;
}

// Applies a typical set of changes; stops at the first error.
Result<void> apply_all(HostConfig& h) {
  if (auto r = h.add_route(route("10.0.0.0/8")); !r) return r;
  if (auto r = h.add_route(route("0.0.0.0/0")); !r) return r;
  if (auto r = h.add_rule(rule(5200)); !r) return r;
  if (auto r = h.set_nft_table("ptun", "add table inet ptun\nflush table inet ptun\n"); !r) return r;
  if (auto r = h.write_file("/etc/resolv.conf", "nameserver 10.99.0.1\n"); !r) return r;
  return h.configure_resolved("ptun0", {{"resolvectl", "dns", "ptun0", "10.99.0.1"}});
}

}  // namespace

TEST_CASE("undo_all restores the host exactly", "[host_config]") {
  TempDir d;
  FakeHost host;
  host.files["/etc/resolv.conf"] = "nameserver 192.0.2.53\n";
  auto before_files = host.files;
  HostConfig h(host, Journal(d.path + "/j"));
  REQUIRE(apply_all(h));
  CHECK(host.routes.size() == 2);
  CHECK(host.files["/etc/resolv.conf"] == "nameserver 10.99.0.1\n");
  REQUIRE(h.write_file("/etc/resolv.conf", "nameserver 10.99.0.2\n"));   // second write: original kept
  h.undo_all();
  CHECK(host.routes.empty());
  CHECK(host.rules.empty());
  CHECK(host.tables.empty());
  CHECK(host.files == before_files);
  CHECK(host.commands.back() == std::vector<std::string>{"resolvectl", "revert", "ptun0"});
  auto left = Journal(d.path + "/j").load();             // nothing left to restore
  REQUIRE(left);
  CHECK(left->empty());
}

TEST_CASE("a failure half-way rolls back to the checkpoint", "[host_config]") {
  for (int fail = 0; fail < 5; ++fail) {
    TempDir d;
    FakeHost host;
    host.files["/etc/resolv.conf"] = "orig\n";
    HostConfig h(host, Journal(d.path + "/j"));
    REQUIRE(h.add_route(route("192.0.2.0/24")));   // before the checkpoint: stays
    size_t cp = h.checkpoint();
    host.fail_at = host.calls + fail;
    INFO("failing mutation " << fail);
    REQUIRE_FALSE(apply_all(h));
    h.rollback(cp);
    CHECK(host.routes == std::vector<netlink::Route>{route("192.0.2.0/24")});
    CHECK(host.rules.empty());
    CHECK(host.tables.empty());
    CHECK(host.files["/etc/resolv.conf"] == "orig\n");
    CHECK(h.entries().size() == 1);
  }
}

TEST_CASE("after a crash, recover() replays the journal, keep() adopts the kill switch", "[host_config]") {
  TempDir d;
  FakeHost host;
  host.files["/etc/resolv.conf"] = "orig\n";
  {
    HostConfig crashed(host, Journal(d.path + "/j"));
    REQUIRE(apply_all(crashed));
    // SIGKILL: no undo runs (the HostConfig has no destructor side effects)
  }
  CHECK(host.routes.size() == 2);
  SECTION("ptun cleanup: everything") {
    HostConfig h(host, Journal(d.path + "/j"));
    auto n = h.recover();
    REQUIRE(n);
    CHECK(*n == 6);
    CHECK(host.routes.empty());
    CHECK(host.rules.empty());
    CHECK(host.tables.empty());
    CHECK(host.files["/etc/resolv.conf"] == "orig\n");
    HostConfig again(host, Journal(d.path + "/j"));
    REQUIRE(again.recover());
    CHECK(*again.recover() == 0);
  }
  SECTION("restart with a kill switch: the table stays, adopted") {
    HostConfig h(host, Journal(d.path + "/j"));
    auto n = h.recover([](const Change& c) { return c.kind == Change::Kind::nft_table; });
    REQUIRE(n);
    CHECK(*n == 5);
    CHECK(host.tables == std::vector<std::string>{"ptun"});
    REQUIRE(h.entries().size() == 1);
    h.undo_all();
    CHECK(host.tables.empty());
  }
}

TEST_CASE("a rule that already existed is not ours to delete", "[host_config]") {
  TempDir d;
  FakeHost host;
  host.rules.push_back(rule(5200));
  HostConfig h(host, Journal(d.path + "/j"));
  REQUIRE_FALSE(h.add_rule(rule(5200)));
  h.undo_all();
  CHECK(host.rules.size() == 1);
}

TEST_CASE("dnsmasq file: written then dnsmasq restarted, removed then restarted again", "[host_config][dnsmasq]") {
  const std::string path = "/tmp/dnsmasq.d/ptun-ptun0.conf";
  const std::vector<std::string> restart = {"/etc/init.d/dnsmasq", "restart"};
  TempDir d;
  FakeHost host;
  SECTION("apply and stop") {
    HostConfig h(host, Journal(d.path + "/j"));
    h.set_dnsmasq_restart(restart);
    REQUIRE(h.write_dnsmasq_file(path, "server=/corp.example/10.99.0.1\n"));
    CHECK(host.files[path] == "server=/corp.example/10.99.0.1\n");
    REQUIRE(host.commands == std::vector<std::vector<std::string>>{restart});
    REQUIRE(h.write_dnsmasq_file(path, "server=/corp.example/10.99.0.2\n"));   // new settings
    CHECK(h.entries().size() == 1);                                             // one entry
    h.undo_all();
    CHECK(host.files.count(path) == 0);
    CHECK(host.commands.size() == 3);
    CHECK(host.commands.back() == restart);
  }
  SECTION("a failing restart fails the change; the rollback removes the file") {
    HostConfig h(host, Journal(d.path + "/j"));
    h.set_dnsmasq_restart(restart);
    host.fail_command = restart[0];
    size_t cp = h.checkpoint();
    auto r = h.write_dnsmasq_file(path, "no-resolv\n");
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("restarting dnsmasq") != std::string::npos);
    h.rollback(cp);
    CHECK(host.files.count(path) == 0);
    CHECK(h.entries().empty());
  }
  SECTION("no restart command: refused, not silently left stale") {
    HostConfig h(host, Journal(d.path + "/j"));
    REQUIRE_FALSE(h.write_dnsmasq_file(path, "no-resolv\n"));
  }
  SECTION("after a crash, ptun cleanup removes it and restarts dnsmasq with the config's command") {
    {
      HostConfig crashed(host, Journal(d.path + "/j"));
      crashed.set_dnsmasq_restart({"/bin/false-not-this-one"});
      REQUIRE(crashed.write_dnsmasq_file(path, "no-resolv\nserver=10.99.0.1\n"));
    }
    host.commands.clear();
    JournalPolicy p;
    p.dnsmasq_files = {path};
    HostConfig h(host, Journal(d.path + "/j", p));
    h.set_dnsmasq_restart(restart);
    auto n = h.recover();
    REQUIRE(n);
    CHECK(*n == 1);
    CHECK(host.files.count(path) == 0);
    CHECK(host.commands == std::vector<std::vector<std::string>>{restart});
  }
}
