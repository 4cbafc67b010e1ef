#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "netcfg/journal.hpp"

using namespace ptun;
using namespace ptun::netcfg;

namespace {

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
  CHECK(::access(j.path().c_str(), F_OK) != 0);
  ::rmdir(dir);
}
