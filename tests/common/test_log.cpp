// Log lines: timestamped on a terminal or file, "<priority>message" on systemd's journal stream
// (JOURNAL_STREAM names stderr's device and inode).
#include <catch2/catch.hpp>
#include <string>

#include "common/log.hpp"

using namespace ptun::log;

namespace {
std::string line(Level l, Style s, const char* msg, uint64_t ns = 1796315197123000000ull) {
  char buf[128];
  size_t n = format_line(buf, sizeof buf, l, s, ns, msg);
  return std::string(buf, n);
}
}  // namespace

TEST_CASE("log: journal style prefixes syslog priorities and drops the timestamp", "[common][log]") {
  CHECK(line(Level::error, Style::journal, "bad") == "<3>bad\n");
  CHECK(line(Level::warn, Style::journal, "hm") == "<4>hm\n");
  CHECK(line(Level::info, Style::journal, "server: listening") == "<6>server: listening\n");
  CHECK(line(Level::debug, Style::journal, "x") == "<7>x\n");
}

TEST_CASE("log: timestamp style starts with UTC time and the level", "[common][log]") {
  // 1796315197.123 s = 2026-12-03T16:26:37.123Z
  CHECK(line(Level::info, Style::timestamp, "up") == "2026-12-03T16:26:37.123Z info  up\n");
  CHECK(line(Level::error, Style::timestamp, "down") == "2026-12-03T16:26:37.123Z error down\n");
}

TEST_CASE("log: control characters never split a line and long messages are cut", "[common][log]") {
  CHECK(line(Level::warn, Style::journal, "a\nb\rc") == "<4>a b c\n");
  std::string big(500, 'z');
  std::string l = line(Level::info, Style::journal, big.c_str());
  CHECK(l.size() == 128);
  CHECK(l.back() == '\n');
  CHECK(l.rfind("<6>zzz", 0) == 0);
}

TEST_CASE("log: JOURNAL_STREAM selects the journal style only for stderr's own file", "[common][log]") {
  CHECK(journal_style_for(nullptr, 5, 42) == Style::timestamp);
  CHECK(journal_style_for("5:42", 5, 42) == Style::journal);
  CHECK(journal_style_for("5:43", 5, 42) == Style::timestamp);   // stderr redirected since
  CHECK(journal_style_for("6:42", 5, 42) == Style::timestamp);
  CHECK(journal_style_for("", 5, 42) == Style::timestamp);
  CHECK(journal_style_for("5:42x", 5, 42) == Style::timestamp);
  CHECK(journal_style_for("garbage", 5, 42) == Style::timestamp);
}
