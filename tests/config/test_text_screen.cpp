// The pre-parser screen: sizes, UTF-8, and the non-ASCII positions that reach undefined
// behaviour in toml++ 3.3.0.
#include <catch2/catch.hpp>

#include "common/limits.hpp"
#include "config/config.hpp"
#include "config/text_screen.hpp"

using namespace ptun;
using namespace ptun::config;

namespace {
std::string screen_error(std::string_view text) {
  auto r = screen_toml_text(text, "t.toml");
  return r ? "" : r.error().message;
}
}  // namespace

TEST_CASE("screen accepts ordinary TOML with non-ASCII in strings and comments", "[config][screen]") {
  const char* ok_texts[] = {
      "a = 1\n",
      "# caf\xC3\xA9 \xEF\xB3\xBF comment\na = 1\n",
      "a = \"caf\xC3\xA9 \xEF\xB3\xBF\"\n",
      "a = 'caf\xC3\xA9'\n",
      "a = \"\"\"\ncaf\xC3\xA9\n\"\"\"\n",
      "a = '''caf\xC3\xA9 '' '''\n",
      "a = \"\"\"x\"\"\"\"\n",           // closing run of 4: one quote of content
      "a = \"\"\"x\"\"\"\"\"\n",         // closing run of 5
      "a = \"esc \\\" \xC3\xA9\"\n",     // escaped quote does not end the string
      "a = \"\"\nb = '\xC3\xA9'\n",      // empty string, then a literal
      "\xEF\xBB\xBF\x61 = 1\n",           // leading BOM, then "a = 1"
      "\"k\xC3\xA9y\" = 1\n",            // non-ASCII quoted key
      "a = \"\"\"\\\n   x\xC3\xA9\"\"\"\n",  // ASCII first after a line-ending backslash
      "a=\"\xC3\xA9\"\n",                       // no spaces around '='
      "a = [1, \"\xC3\xA9\"]\nb = { c = -1, d = \"\xC3\xA9\" }\n",
      "a = 1\nb = \"\xC3\xA9\"\n",
  };
  for (const char* t : ok_texts) {
    INFO(t);
    CHECK(screen_error(t).empty());
  }
}

TEST_CASE("screen rejects what toml++ 3.3.0 cannot parse safely", "[config][screen]") {
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"a = 1\n\xEF\xB3\xBF = 2\n", "t.toml:2:1: non-ASCII character outside a string or comment"},
      {"a = 1 \xC2\xA1\n", "t.toml:1:7: non-ASCII"},
      {"\xCC\xAA", "t.toml:1:1: non-ASCII"},  // marzer/tomlplusplus#295
      {"a = \"\"\"x\"\"\"\"\xC3\xA9\n", "non-ASCII"},  // after a closing run of 4
      {"a = \"\"\"\\\xC3\xA9\"\"\"\n", "t.toml:1:9: invalid escape sequence"},
      {"a = \"\\\xC3\xA9\"\n", "invalid escape sequence"},
      {"a = \"\"\"\\\n  \xC3\xA9\"\"\"\n", "t.toml:2:3: non-ASCII character right after a line-ending"},
      {"a = \"\"\"x\"\"\"\"\"\"\n", "too many quotes"},
      {"a = 2\"vpn.ex\xEF\xB3\xBFle\"\n", "t.toml:1:13: non-ASCII character in a string that directly follows a number"},
      {"a = -x=['\xC3\xA9'\n", "directly follows a number"},
      {"a = 1979-05-27 \"\xC3\xA9\"\n", "directly follows a number"},  // date-time scan crosses one space
      {"a = \"x\ny\"\n", "t.toml:1:7: newline in a single-line string"},
      {"a = 'x\n'\n", "newline in a single-line string"},
      {"a = \"\xFF\"\n", "t.toml:1:6: invalid UTF-8"},
      {"a = \"\xC0\xAF\"\n", "invalid UTF-8"},          // overlong '/'
      {"a = \"\xED\xA0\x80\"\n", "invalid UTF-8"},      // surrogate U+D800
      {"a = \"\xF4\x90\x80\x80\"\n", "invalid UTF-8"},  // above U+10FFFF
      {"a = \"\xE2\x82\"", "invalid UTF-8"},             // truncated
      {"# \xC3\n", "t.toml:1:3: invalid UTF-8"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK_THAT(screen_error(c.text), Catch::Contains(c.error));
  }
}

TEST_CASE("screen rejects oversized input before looking at it", "[config][screen]") {
  std::string big(limits::kMaxConfigBytes + 1, '#');
  CHECK_THAT(screen_error(big), Catch::Contains("t.toml:1:1: file is larger than"));
  std::string fits(limits::kMaxConfigBytes, '\n');
  CHECK(screen_error(fits).empty());
  // And the public parsers go through the screen.
  auto s = parse_server(big, "big.toml");
  REQUIRE_FALSE(s);
  CHECK_THAT(s.error().message, Catch::StartsWith("big.toml:1:1: file is larger"));
  auto c = parse_client("server = \"\xC3\x28\"", "bad.toml");
  REQUIRE_FALSE(c);
  CHECK_THAT(c.error().message, Catch::StartsWith("bad.toml:1:11: invalid UTF-8"));
}
