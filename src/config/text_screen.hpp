// Checks config text BEFORE toml++ sees it. toml++ 3.3.0 has undefined behaviour on some input:
//  - invalid UTF-8 (its decoder), and
//  - valid but non-ASCII code points that reach its whitespace classifier
//    (is_non_ascii_horizontal_whitespace hits __builtin_unreachable for e.g. U+00A1..U+0499,
//    U+2C5E..U+3057, U+FB26..U+FEFE; upstream issue marzer/tomlplusplus#295). The parser asks
//    that question for every code point outside strings and comments, right after a backslash
//    in a multi-line basic string, while skipping indentation after a line-ending backslash, and
//    in strings that a number/date look-ahead scan runs into (`a = 1"\u00e9"`).
// TOML 1.0 allows non-ASCII only inside strings and comments, so a small lexer that tracks
// strings and comments exactly as toml++ does (including the """"" closing runs) can reject all
// three cases. The cost is one valid-but-odd construct: a non-ASCII character as the first thing
// after a line-ending backslash in a """ string. That is reported as unsupported.
#pragma once
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace ptun::config {

// Ok, or Errc::invalid_argument "NAME:LINE:COL: message" (columns count code points).
// Also rejects text longer than limits::kMaxConfigBytes ("NAME:1:1: ...").
Result<void> screen_toml_text(std::string_view text, const std::string& name);

}  // namespace ptun::config
