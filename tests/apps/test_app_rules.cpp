// Rule matching and verdicts, cgroup discovery and naming, the nftables script, the registry.
#include <catch2/catch.hpp>

#include "apps/app_firewall.hpp"
#include "apps/app_registry.hpp"
#include "apps/app_rules.hpp"
#include "apps/cgroup.hpp"

using namespace ptun;
using namespace ptun::apps;

namespace {
config::AppRule rule(const char* name, const char* mode, std::optional<uint32_t> uid, const char* cg,
                     const char* path) {
  config::AppRule r;
  r.name = name;
  r.mode = mode;
  r.uid = uid;
  r.cgroup = cg;
  r.path = path;
  return r;
}
Identity proc(uint32_t uid, const char* exe, const char* cg) {
  Identity id;
  id.kind = Identity::Kind::process;
  id.uid = uid;
  id.exe = exe;
  id.cgroup = cg;
  return id;
}
}  // namespace

TEST_CASE("rules match by uid, cgroup subtree, executable and the exec cgroup", "[apps]") {
  RuleSet rs({rule("web", "only", 1001, "", ""), rule("ff", "only", std::nullopt, "/user.slice/ff.scope", ""),
              rule("curl", "only", std::nullopt, "", "/usr/bin/curl")});
  CHECK(rs.mode() == Mode::only);
  CHECK(rs.match(proc(1001, "/bin/x", "/")) == 0);
  CHECK(rs.match(proc(1000, "/bin/x", "/user.slice/ff.scope")) == 1);
  CHECK(rs.match(proc(1000, "/bin/x", "/user.slice/ff.scope/tab1")) == 1);
  CHECK(rs.match(proc(1000, "/bin/x", "/user.slice/ff.scope2")) == -1);
  CHECK(rs.match(proc(1000, "/usr/bin/curl", "/")) == 2);
  CHECK(rs.match(proc(1000, "/usr/bin/curl2", "/")) == -1);
  CHECK(rs.match(proc(1000, "/bin/sh", "/ptun/curl")) == 2);   // ptun exec --app curl
  CHECK(rs.match(proc(1000, "/bin/sh", "/ptun/curlx")) == -1);

  CHECK(rs.allowed(proc(1001, "/bin/x", "/")));
  CHECK_FALSE(rs.allowed(proc(1000, "/bin/x", "/")));
  Identity unknown;
  unknown.uid = 1000;   // a uid alone (process gone) is not enough to judge: never guessed
  CHECK(rs.allowed(unknown));
  Identity lan;
  lan.kind = Identity::Kind::lan;
  lan.lan = IpAddr::parse("192.168.1.7").value();
  CHECK(rs.allowed(lan));
  CHECK(lan.label() == "lan 192.168.1.7");

  RuleSet ex({rule("dl", "except", std::nullopt, "", "/usr/bin/wget")});
  CHECK(ex.mode() == Mode::except);
  CHECK_FALSE(ex.allowed(proc(0, "/usr/bin/wget", "/")));
  CHECK(ex.allowed(proc(0, "/usr/bin/curl", "/")));
  RuleSet none;
  CHECK(none.allowed(proc(0, "/usr/bin/wget", "/")));
}

TEST_CASE("cgroup v2 mount from mountinfo: plain and hybrid systems, none", "[apps]") {
  const char* hybrid =
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n";
  auto m = parse_mountinfo(hybrid);
  REQUIRE(m.ok());
  CHECK(m->mount_point == "/sys/fs/cgroup/unified");
  CHECK(m->root == "/");
  auto plain = parse_mountinfo("30 24 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n");
  REQUIRE(plain.ok());
  CHECK(plain->mount_point == "/sys/fs/cgroup");
  auto esc = parse_mountinfo("30 24 0:26 / /mnt/my\\040cg rw - cgroup2 none rw\n");
  REQUIRE(esc.ok());
  CHECK(esc->mount_point == "/mnt/my cg");
  CHECK(parse_mountinfo("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n").error().code == Errc::not_found);
  CHECK(parse_mountinfo("garbage\n - cgroup2\n").error().code == Errc::not_found);

  CHECK(parse_proc_cgroup("4:memory:/x\n0::/user.slice/a.scope\n") == "/user.slice/a.scope");
  CHECK(parse_proc_cgroup("4:memory:/x\n").empty());

  // nft resolves paths below /sys/fs/cgroup: names for each kind of mount point
  CHECK(nft_cgroup(*plain, "/ptun/web").path == "ptun/web");
  CHECK(nft_cgroup(*plain, "/ptun/web").level == 2);
  CHECK(nft_cgroup(*m, "/ptun/web").path == "unified/ptun/web");
  CHECK(nft_cgroup(*esc, "/a").path == "../../../mnt/my cg/a");
  CHECK(nft_cgroup(CgroupMount{"/sys/fs/cgroup", "/lxc/c1"}, "/a").level == 3);
}

TEST_CASE("the nftables script for each mode", "[apps]") {
  FirewallSpec spec;
  spec.table = "ptun_apps";
  spec.tun_iface = "ptun0";
  spec.fwmark = 0x7074;
  spec.ct_mark = 0x70740001;
  spec.cgroup2 = CgroupMount{"/sys/fs/cgroup", "/"};
  RuleSet only({rule("web", "only", 1001, "/user.slice/web.scope", "/usr/bin/firefox")});
  auto s = firewall_script(only, spec);
  REQUIRE(s.ok());
  CHECK(s->find("meta skuid 1001 goto matched") != std::string::npos);
  CHECK(s->find("socket cgroupv2 level 2 \"user.slice/web.scope\" goto matched") != std::string::npos);
  CHECK(s->find("socket cgroupv2 level 2 \"ptun/web\" goto matched") != std::string::npos);
  CHECK(s->find("firefox") == std::string::npos);   // paths are userspace-only
  CHECK(s->find("meta mark 0x7074 return") != std::string::npos);
  CHECK(s->find("masquerade") != std::string::npos);
  CHECK(s->find(" drop") == std::string::npos);
  // only: the unmatched fall through to the bypass at the end of output; matched return
  size_t out = s->find("chain output"), matched = s->find("chain matched");
  CHECK(s->find("counter name bypassed ct mark set 0x70740001 meta mark set 0x7074", out) < matched);
  CHECK(s->find("return", matched) < s->find("}", matched));

  spec.block_bypass = true;   // include_all_networks: blocked, not leaked
  RuleSet except({rule("dl", "except", 0, "", "")});
  auto e = firewall_script(except, spec);
  REQUIRE(e.ok());
  CHECK(e->find("masquerade") == std::string::npos);
  CHECK(e->find("ct mark 0x70740001 oifname != \"ptun0\" oifname != \"lo\" counter name blocked drop") != std::string::npos);
  CHECK(e->find("counter name bypassed", e->find("chain matched")) != std::string::npos);

  spec.cgroup2.reset();
  CHECK(firewall_script(only, spec).error().code == Errc::unsupported);
  CHECK(firewall_script(except, spec).ok());   // uid rules need no cgroup hierarchy
  spec.tun_iface = "ptun0\" accept";   // refused, not quoted into a rule of its own
  CHECK(firewall_script(except, spec).error().code == Errc::invalid_argument);
}

TEST_CASE("registry interns owners and stays bounded", "[apps]") {
  AppRegistry reg;
  uint32_t a = reg.intern(proc(1, "/bin/a", "/"));
  CHECK(a == reg.intern(proc(1, "/bin/a", "/")));
  CHECK(a != reg.intern(proc(2, "/bin/a", "/")));
  CHECK(reg.intern(Identity{}) == AppRegistry::kUnknown);
  CHECK(reg.identity(a).exe == "/bin/a");
  for (uint32_t i = 0; i < 5000; ++i) reg.intern(proc(i + 10, "/bin/x", "/"));
  CHECK(reg.size() == AppRegistry::kMaxApps);
  CHECK(reg.intern(proc(99999, "/bin/y", "/")) == AppRegistry::kUnknown);
  reg.totals(a).flows = 3;
  CHECK(reg.totals(a).flows == 3);
  CHECK(reg.identity(123456).kind == Identity::Kind::unknown);
}
