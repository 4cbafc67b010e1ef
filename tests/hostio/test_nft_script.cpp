// hostio::NftTable, the one writer of nftables scripts: the exact text of a table (replace
// commands, counters, base and regular chains, rule order), sets and quotes, and every kind of
// input that must not reach nft (a script holding one is refused whole).
#include <catch2/catch.hpp>

#include "hostio/nft_script.hpp"

using namespace ptun;
using namespace ptun::hostio;

TEST_CASE("nft table: the whole script, in the order it was described", "[hostio][nft]") {
  NftTable t("ptun_apps", NftReplace::recreate);
  t.counter("blocked").counter("bypassed");
  t.chain("output", "type route hook output priority mangle; policy accept;")
      .rule("meta mark " + nft_hex(0x7074) + " return")
      .rule("oifname " + t.quote("ptun0") + " return");
  t.chain("matched").rule("return");
  t.chain("empty", "type filter hook input priority 0; policy accept;");
  auto s = t.script();
  REQUIRE(s.ok());
  CHECK(*s ==
        "add table inet ptun_apps\n"
        "delete table inet ptun_apps\n"
        "table inet ptun_apps {\n"
        "  counter blocked {}\n"
        "  counter bypassed {}\n"
        "  chain output {\n"
        "    type route hook output priority mangle; policy accept;\n"
        "    meta mark 0x7074 return\n"
        "    oifname \"ptun0\" return\n"
        "  }\n"
        "  chain matched {\n"
        "    return\n"
        "  }\n"
        "  chain empty {\n"
        "    type filter hook input priority 0; policy accept;\n"
        "  }\n"
        "}\n");
  NftTable f("ptun_ptun0", NftReplace::flush);
  REQUIRE(f.script().ok());
  CHECK(*f.script() == "add table inet ptun_ptun0\nflush table inet ptun_ptun0\ntable inet ptun_ptun0 {\n}\n");
}

TEST_CASE("nft sets, hex and quotes", "[hostio][nft]") {
  NftTable t("t", NftReplace::flush);
  CHECK(t.set({}).empty());
  CHECK(t.set({"10.0.0.0/8"}) == "{ 10.0.0.0/8 }");
  CHECK(t.set({"192.168.1.0/24", "fe80::/64", "nd-router-solicit"}) == "{ 192.168.1.0/24, fe80::/64, nd-router-solicit }");
  CHECK(t.quote("tun-a.b_c") == "\"tun-a.b_c\"");
  CHECK(t.quote("../../mnt/my cg/a") == "\"../../mnt/my cg/a\"");   // spaces are fine between quotes
  CHECK(t.script().ok());
  CHECK(nft_hex(0x7074) == "0x7074");
  CHECK(nft_hex(0x7074, 8) == "0x00007074");
  CHECK(nft_hex(0xdeadbeef, 8) == "0xdeadbeef");
  CHECK(nft_hex(0) == "0x0");
}

TEST_CASE("nft: what nft cannot take refuses the whole script", "[hostio][nft]") {
  auto refused = [](NftTable& t, const char* what) {
    auto s = t.script();
    INFO(what);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == Errc::invalid_argument);
    return s.error().message;
  };
  {
    NftTable t("ptun ptun0", NftReplace::flush);
    CHECK(refused(t, "table name with a space") == "bad nftables table name 'ptun ptun0'");
  }
  for (const char* bad : {"", "0abc", "a-b", "a;b", "a\nb"}) {
    NftTable t("ok", NftReplace::flush);
    t.chain(bad);
    refused(t, bad);
    NftTable c("ok", NftReplace::flush);
    c.counter(bad);
    refused(c, bad);
  }
  {
    NftTable t("ok", NftReplace::flush);
    t.chain("output").rule("oifname " + t.quote("ptun0\" accept") + " drop");
    CHECK(refused(t, "quote in a quoted string") == "cannot quote 'ptun0\" accept' for nftables");
  }
  for (const char* bad : {"a\\b", "a\tb", "a\x7f"}) {
    NftTable t("ok", NftReplace::flush);
    (void)t.quote(bad);
    refused(t, bad);
  }
  for (const char* bad : {"", "10.0.0.0/8 }", "a, b", "a b", "x\n"}) {
    NftTable t("ok", NftReplace::flush);
    (void)t.set({"10.0.0.0/8", bad});
    refused(t, bad);
  }
  {
    NftTable t("ok", NftReplace::flush);
    t.chain("output").rule("accept\ndelete table inet other");
    CHECK(refused(t, "newline in a rule") == "a control character in the rule 'accept?delete table inet other'");
  }
  {
    NftTable t("ok", NftReplace::flush);
    t.rule("accept");
    CHECK(refused(t, "no chain yet") == "a rule outside a chain");
    NftTable c("ok", NftReplace::flush);
    c.counter("n").rule("accept");
    refused(c, "after a counter");
  }
  {
    // the first refusal is the one reported
    NftTable t("ok", NftReplace::flush);
    t.chain("a b");
    (void)t.quote("\"");
    CHECK(refused(t, "two") == "bad nftables chain name 'a b'");
  }
}

TEST_CASE("nft: removing a table works whether or not it exists", "[hostio][nft]") {
  auto s = nft_remove_table_script("ptun_apps");
  REQUIRE(s.ok());
  CHECK(*s == "add table inet ptun_apps\ndelete table inet ptun_apps\n");
  CHECK(nft_remove_table_script("x\ndelete table inet y").error().code == Errc::invalid_argument);
  CHECK(nft_remove_table_script("").error().code == Errc::invalid_argument);
  CHECK(nft_name_ok(std::string(63, 'a')));
  CHECK_FALSE(nft_name_ok(std::string(64, 'a')));
}
