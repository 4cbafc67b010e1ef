#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "netcfg/journal.hpp"

using namespace ptun;
using namespace ptun::netcfg;

namespace {

long file_size(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  return f ? long(f.tellg()) : -1;
}

std::vector<Change> sample() {
  std::vector<Change> v;
  Change r;
  r.kind = Change::Kind::route;
  r.route.dst = *Cidr::parse("::/0");
  r.route.ifindex = 7;
  r.route.table = 7074;
  v.push_back(r);
  r.route.dst = *Cidr::parse("198.18.0.2/32");
  r.route.gateway = *IpAddr::parse("198.18.0.1");
  r.route.type = RTN_THROW;
  r.route.metric = 1024;
  v.push_back(r);
  Change rule;
  rule.kind = Change::Kind::rule;
  rule.rule.family = Family::v6;
  rule.rule.priority = 5201;
  rule.rule.table = 7074;
  rule.rule.fwmark = 0x7074;
  rule.rule.fwmask = 0xffffffff;
  rule.rule.invert = true;
  v.push_back(rule);
  rule.rule.suppress_prefixlen = 0;
  rule.rule.invert = false;
  v.push_back(rule);
  Change nft;
  nft.kind = Change::Kind::nft_table;
  nft.name = "ptun";
  v.push_back(nft);
  Change f;
  f.kind = Change::Kind::file;
  f.path = "/etc/resolv.conf";
  f.existed = true;
  f.content = std::string("nameserver 1.1.1.1\n# 100% odd\tbytes \x01\xff\n", 40);
  v.push_back(f);
  f.path = "/etc/with space";
  f.existed = false;
  f.content.clear();
  v.push_back(f);
  Change res;
  res.kind = Change::Kind::resolved_link;
  res.name = "ptun0";
  v.push_back(res);
  Change dq;
  dq.kind = Change::Kind::dnsmasq_file;
  dq.path = "/tmp/dnsmasq.d/ptun-ptun0.conf";
  v.push_back(dq);
  return v;
}

}  // namespace

TEST_CASE("journal entries round-trip byte for byte", "[journal]") {
  auto v = sample();
  auto text = encode_journal(v);
  auto back = decode_journal(text);
  REQUIRE(back);
  CHECK(*back == v);
  for (char c : text.substr(text.find('\n') + 1)) CHECK((c == '\n' || (c >= 0x20 && c < 0x7f)));
}

TEST_CASE("a torn last line is ignored, other damage is an error", "[journal]") {
  auto text = encode_journal(sample());
  auto torn = text.substr(0, text.size() - 5);
  auto back = decode_journal(torn);
  REQUIRE(back);
  CHECK(back->size() == sample().size() - 1);
  CHECK_FALSE(decode_journal("not a journal\n"));
  CHECK_FALSE(decode_journal(text + "route 10.0.0.0/8 x - 254 0 1 0\n"));
  CHECK_FALSE(decode_change("file %zz 1 %"));
  CHECK_FALSE(decode_change("file /a 1 %4"));
  CHECK_FALSE(decode_change("rule 5 1 2 3 4 0 0 1 0"));
  CHECK_FALSE(decode_change("nft %"));
  CHECK_FALSE(decode_change(""));
  auto empty = decode_journal("");
  REQUIRE(empty);
  CHECK(empty->empty());
}

TEST_CASE("journal file: append, load, rewrite, remove", "[journal]") {
  char dir[] = "/tmp/ptun-journal-XXXXXX";
  REQUIRE(::mkdtemp(dir));
  Journal j(std::string(dir) + "/netcfg.journal");
  auto none = j.load();
  REQUIRE(none);
  CHECK(none->empty());
  auto v = sample();
  for (const auto& c : v) REQUIRE(j.append(c));
  auto loaded = j.load();
  REQUIRE(loaded);
  CHECK(*loaded == v);
  std::vector<Change> first(v.begin(), v.begin() + 2);
  REQUIRE(j.rewrite(first));
  loaded = j.load();
  REQUIRE(loaded);
  CHECK(*loaded == first);
  REQUIRE(j.rewrite({}));
  CHECK(file_size(j.path()) == 0);   // emptied in place: the file may sit in a directory we can no longer write
  Journal again(j.path());
  auto empty = again.load();
  REQUIRE(empty);
  CHECK(empty->empty());
  ::unlink(j.path().c_str());
  ::rmdir(dir);
}

// --- trust: a journal is replayed as root (issue 19, finding 1) --------------------------------

namespace {

struct Dir {
  std::string path;
  Dir() {
    char t[] = "/tmp/ptun-journal-XXXXXX";
    REQUIRE(::mkdtemp(t));
    path = t;
  }
  ~Dir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string file() const { return path + "/netcfg.journal"; }
  void put(const std::string& text) const { std::ofstream(file(), std::ios::binary) << text; }
};

JournalPolicy client_policy() {
  JournalPolicy p;
  p.files = {"/etc/resolv.conf"};
  p.tables = {254, 7074};
  p.interface = "ptun0";
  p.dnsmasq_files = {"/tmp/dnsmasq.d/ptun-ptun0.conf"};
  return p;
}

Change file_change(const std::string& path, const std::string& content) {
  Change c;
  c.kind = Change::Kind::file;
  c.path = path;
  c.existed = true;
  c.content = content;
  return c;
}

}  // namespace

TEST_CASE("journal policy: only what ptun itself journals", "[journal]") {
  const auto p = client_policy();
  for (const auto& c : sample()) {
    if (c.kind == Change::Kind::file && c.path != "/etc/resolv.conf") continue;
    INFO(encode_change(c));
    CHECK(check_change(c, p));
  }
  CHECK(check_change(file_change("/etc/shadow", "root::0:0:::::\n"), p).error().code == Errc::auth);
  Change nft;
  nft.kind = Change::Kind::nft_table;
  for (const char* bad : {"x", "ptun\nflush ruleset", "ptun; flush ruleset", "ptun x", "PTUN", "ptunA",
                          "ptun_0123456789012345678901234567"}) {
    nft.name = bad;
    INFO(bad);
    CHECK_FALSE(check_change(nft, p));
  }
  for (const char* good : {"ptun", "ptun_apps", "ptun_ptun0_ks"}) {
    nft.name = good;
    CHECK(check_change(nft, p));
  }
  Change r = sample()[0];
  r.route.table = 100;  // someone else's table
  CHECK_FALSE(check_change(r, p));
  r.route.table = 254;
  r.route.protocol = 4;  // RTPROT_STATIC: not ptun's
  CHECK_FALSE(check_change(r, p));
  Change res;
  res.kind = Change::Kind::resolved_link;
  res.name = "eth0";
  CHECK_FALSE(check_change(res, p));
  // A dnsmasq entry is replayed as "remove the file": only this config's own file.
  Change dq;
  dq.kind = Change::Kind::dnsmasq_file;
  for (const char* bad : {"/etc/passwd", "/tmp/dnsmasq.d/ptun-eth0.conf", "/tmp/dnsmasq.d/../ptun-ptun0.conf"}) {
    dq.path = bad;
    INFO(bad);
    CHECK(check_change(dq, p).error().code == Errc::auth);
  }
  // ... and the resolv.conf restore is not a dnsmasq file, nor the other way round.
  CHECK_FALSE(check_change(file_change("/tmp/dnsmasq.d/ptun-ptun0.conf", "no-resolv\n"), p));
  JournalPolicy only_dnsmasq;
  only_dnsmasq.dnsmasq_files = {"/tmp/dnsmasq.d/ptun-ptun0.conf"};
  CHECK(only_dnsmasq.restricted());
  CHECK_FALSE(check_change(file_change("/etc/resolv.conf", ""), only_dnsmasq));
}

TEST_CASE("journal: a planted entry makes the whole journal refused", "[journal]") {
  Dir d;
  Journal w(d.file());
  REQUIRE(w.append(file_change("/etc/resolv.conf", "nameserver 192.0.2.1\n")));
  REQUIRE(w.append(file_change("/etc/shadow", "planted")));
  Journal j(d.file(), client_policy());
  auto r = j.load();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::auth);
  CHECK(r.error().message.find("/etc/shadow") != std::string::npos);
}

TEST_CASE("journal: symbolic links and loose modes are refused", "[journal]") {
  Dir d;
  SECTION("a symlink in place of the journal") {
    std::ofstream(d.path + "/target") << "x";
    REQUIRE(::symlink((d.path + "/target").c_str(), d.file().c_str()) == 0);
    Journal j(d.file());
    auto r = j.load();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::auth);
    CHECK_FALSE(j.append(file_change("/etc/resolv.conf", "")));
    std::ifstream t(d.path + "/target");
    std::string s((std::istreambuf_iterator<char>(t)), {});
    CHECK(s == "x");   // never followed
  }
  SECTION("a journal writable by others") {
    d.put("ptun-netcfg-journal 1\n");
    REQUIRE(::chmod(d.file().c_str(), 0666) == 0);
    auto r = Journal(d.file()).load();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::auth);
  }
  SECTION("a directory writable by others") {
    REQUIRE(::chmod(d.path.c_str(), 0777) == 0);
    auto r = Journal(d.file()).load();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::auth);
  }
  SECTION("a journal or directory owned by another uid (root only)") {
    if (::geteuid() != 0) {
      WARN("SKIPPED: not root, cannot chown the journal to another uid");
      return;
    }
    d.put("ptun-netcfg-journal 1\n");
    REQUIRE(::chown(d.file().c_str(), 65534, 65534) == 0);
    auto r = Journal(d.file()).load();
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("uid 65534") != std::string::npos);
    REQUIRE(::chown(d.file().c_str(), 0, 0) == 0);
    REQUIRE(::chown(d.path.c_str(), 65534, 65534) == 0);
    CHECK_FALSE(Journal(d.file()).load());
  }
}

TEST_CASE("journal: rewrites by truncation or an appended block, torn blocks ignored", "[journal]") {
  Dir d;
  auto v = sample();
  {
    Journal j(d.file());
    for (const auto& c : v) REQUIRE(j.append(c));
    const auto full = file_size(d.file());
    std::vector<Change> prefix(v.begin(), v.begin() + 3);
    REQUIRE(j.rewrite(prefix));
    CHECK(file_size(d.file()) < full);   // a rollback is a truncation
    // Keeping a later entry but not an earlier one (always_on keeps the kill switch): a block.
    std::vector<Change> kept = {v[4], v[1]};
    REQUIRE(j.rewrite(kept));
    REQUIRE(j.append(v[0]));
    auto now = Journal(d.file()).load();
    REQUIRE(now);
    CHECK(*now == std::vector<Change>{v[4], v[1], v[0]});
    // A rollback inside the block needs a new block; one to the block's end is a truncation.
    REQUIRE(j.rewrite({v[4], v[1]}));
    REQUIRE(j.rewrite({v[4]}));
    now = Journal(d.file()).load();
    REQUIRE(now);
    CHECK(*now == std::vector<Change>{v[4]});
    REQUIRE(j.rewrite({}));
    now = Journal(d.file()).load();
    REQUIRE(now);
    CHECK(now->empty());
  }
  SECTION("a crash while appending a block leaves the previous journal") {
    d.put(encode_journal({v[0], v[1]}) + "begin\n" + encode_change(v[2]) + "\n");
    Journal j(d.file());
    auto r = j.load();
    REQUIRE(r);
    CHECK(*r == std::vector<Change>{v[0], v[1]});
    REQUIRE(j.append(v[3]));   // the torn block was cut off: this append is live
    auto again = Journal(d.file()).load();
    REQUIRE(again);
    CHECK(*again == std::vector<Change>{v[0], v[1], v[3]});
  }
  SECTION("a torn last line is cut off before the next append") {
    d.put(encode_journal({v[0]}) + encode_change(v[1]).substr(0, 10));
    Journal j(d.file());
    REQUIRE(j.append(v[2]));
    auto again = Journal(d.file()).load();
    REQUIRE(again);
    CHECK(*again == std::vector<Change>{v[0], v[2]});
  }
}
