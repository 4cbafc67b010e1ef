#include "config/text_screen.hpp"

#include <cstdint>

#include "common/limits.hpp"

namespace ptun::config {
namespace {

// Decodes one UTF-8 sequence at s[i]. Returns its length (1..4) and sets *cp, or 0 if the bytes
// are not well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
size_t decode_utf8(std::string_view s, size_t i, uint32_t* cp) {
  auto b = [&](size_t k) { return uint8_t(s[i + k]); };
  uint8_t c = b(0);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t min, v;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, min = 0x80, v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, min = 0x800, v = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, min = 0x10000, v = c & 0x07;
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(k) & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

// How many copies of `q` start at s[i].
size_t run_of(std::string_view s, size_t i, char q) {
  size_t n = 0;
  while (i + n < s.size() && s[i + n] == q) ++n;
  return n;
}

bool is_space(uint32_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

enum class Lex { normal, comment, basic, ml_basic, literal, ml_literal };

}  // namespace

Result<void> screen_toml_text(std::string_view text, const std::string& name) {
  if (text.size() > limits::kMaxConfigBytes)
    return Error(Errc::invalid_argument, name + ":1:1: file is larger than " +
                                             std::to_string(limits::kMaxConfigBytes) + " bytes");
  size_t line = 1, col = 1;
  auto fail = [&](const char* why) {
    return Error(Errc::invalid_argument,
                 name + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + why);
  };

  Lex state = Lex::normal;
  // toml++ classifies a value that starts with a digit or sign by scanning ahead up to 127 code
  // points until a value terminator (whitespace ] } , #), straight through quotes: `1"\u00e9"`
  // reaches the classifier. So a string opened while such a run may be in progress must stay
  // ASCII. A space ends the run unless the run could be a date (digits, '-', '_' only): toml++
  // then also scans past one space for a date-time's time part.
  bool numeric_run = false;      // a digit/sign since the last terminator (outside strings)
  bool run_date_like = true;     // the current run is digits, '-' and '_' only
  bool ascii_only = false;       // the current string must be ASCII (see numeric_run)
  bool escaped = false;   // previous code point was an unescaped '\' in a basic string
  bool skipping = false;  // after a line-ending backslash in a """ string, before its content
  size_t i = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;  // toml++ skips a leading BOM itself
  while (i < text.size()) {
    uint32_t cp = 0;
    size_t len = decode_utf8(text, i, &cp);
    if (len == 0) return fail("invalid UTF-8");
    size_t advance = len;  // bytes consumed by this step (quote runs consume several)
    if (state != Lex::normal && state != Lex::comment && ascii_only && cp >= 0x80)
      return fail("non-ASCII character in a string that directly follows a number");
    switch (state) {
      case Lex::normal:
        if (cp >= 0x80) return fail("non-ASCII character outside a string or comment");
        if (cp == ' ') {
          numeric_run = numeric_run && run_date_like;
          run_date_like = true;
        } else if (cp == '\t' || (cp >= '\n' && cp <= '\r') || cp == ',' || cp == ']' ||
                   cp == '}' || cp == '#') {
          numeric_run = false;
          run_date_like = true;
        } else {
          bool digit = cp >= '0' && cp <= '9';
          if (digit || cp == '+' || cp == '-') numeric_run = true;
          run_date_like = run_date_like && (digit || cp == '-' || cp == '_');
        }
        if (cp == '#') {
          state = Lex::comment;
        } else if (cp == '"' || cp == '\'') {
          // Same rule as toml++'s parse_string: three delimiters open a multi-line string.
          bool ml = run_of(text, i, char(cp)) >= 3;
          state = cp == '"' ? (ml ? Lex::ml_basic : Lex::basic)
                            : (ml ? Lex::ml_literal : Lex::literal);
          advance = ml ? 3 : 1;
          escaped = skipping = false;
          ascii_only = numeric_run;
        }
        break;
      case Lex::comment:
        if (cp == '\n') state = Lex::normal;
        break;
      case Lex::basic:
      case Lex::literal:
        if (cp == '\n') return fail("newline in a single-line string");
        if (escaped) {
          if (cp >= 0x80) return fail("invalid escape sequence");
          escaped = false;
        } else if (state == Lex::basic && cp == '\\') {
          escaped = true;
        } else if (cp == (state == Lex::basic ? '"' : '\'')) {
          state = Lex::normal;
        }
        break;
      case Lex::ml_basic:
      case Lex::ml_literal: {
        char q = state == Lex::ml_basic ? '"' : '\'';
        if (escaped) {
          // toml++ asks "is this whitespace?" of the escaped code point.
          if (cp >= 0x80) return fail("invalid escape sequence");
          escaped = false;
          if (is_space(cp)) skipping = true;
          break;
        }
        if (cp == uint32_t(q)) {
          // A run of 1-2 delimiters is content; 3-5 close the string (the extra ones are
          // content); toml++ never reads more than 5.
          size_t n = run_of(text, i, q);
          if (n > 5) return fail("too many quotes closing a multi-line string");
          if (n >= 3) state = Lex::normal;
          advance = n;
          skipping = false;
          break;
        }
        if (q == '"' && cp == '\\') {
          escaped = true;
          skipping = false;
          break;
        }
        if (skipping && !is_space(cp)) {
          if (cp >= 0x80)
            return fail("non-ASCII character right after a line-ending backslash is not supported");
          skipping = false;
        }
        break;
      }
    }
    // Quote runs are ASCII, so columns advance by code points == bytes for them.
    if (cp == '\n') {
      ++line;
      col = 1;
    } else {
      col += len == advance ? 1 : advance;
    }
    i += advance;
  }
  return ok();
}

}  // namespace ptun::config
