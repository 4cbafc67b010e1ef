#include "hostio/nft_script.hpp"

#include <cstdio>

namespace ptun::hostio {
namespace {

bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool digit(char c) { return c >= '0' && c <= '9'; }

// Shown in a refusal: printable and short.
std::string shown(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 64)) out += c < 0x20 || c >= 0x7f ? '?' : char(c);
  return out;
}

}  // namespace

bool nft_name_ok(std::string_view n) {
  if (n.empty() || n.size() > 63 || !alpha(n[0])) return false;
  for (char c : n)
    if (!(alpha(c) || digit(c) || c == '_')) return false;
  return true;
}

bool nft_quotable(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f) return false;
  return true;
}

bool nft_word_ok(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(alpha(c) || digit(c) || c == ':' || c == '.' || c == '/' || c == '_' || c == '-')) return false;
  return true;
}

std::string nft_hex(uint32_t v, int digits) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%0*x", digits, unsigned(v));
  return b;
}

NftTable::NftTable(std::string_view name, NftReplace how) : name_(name), how_(how) {
  if (!nft_name_ok(name)) refuse("bad nftables table name '" + shown(name) + "'");
}

void NftTable::refuse(const std::string& why) {
  if (error_.empty()) error_ = why;
}

NftTable& NftTable::counter(std::string_view name) {
  if (!nft_name_ok(name)) refuse("bad nftables counter name '" + shown(name) + "'");
  items_.push_back({true, std::string(name), "", {}});
  return *this;
}

NftTable& NftTable::chain(std::string_view name, std::string_view base) {
  if (!nft_name_ok(name)) refuse("bad nftables chain name '" + shown(name) + "'");
  if (!nft_quotable(base)) refuse("bad base chain line in chain " + std::string(name));
  items_.push_back({false, std::string(name), std::string(base), {}});
  return *this;
}

NftTable& NftTable::rule(std::string_view text) {
  if (items_.empty() || items_.back().is_counter) {
    refuse("a rule outside a chain");
    return *this;
  }
  // Quotes were checked where they were made; a line break here would start a command of its own.
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7f) {
      refuse("a control character in the rule '" + shown(text) + "'");
      return *this;
    }
  items_.back().rules.emplace_back(text);
  return *this;
}

std::string NftTable::quote(std::string_view s) {
  if (!nft_quotable(s)) refuse("cannot quote '" + shown(s) + "' for nftables");
  return "\"" + std::string(s) + "\"";
}

std::string NftTable::set(const std::vector<std::string>& elements) {
  std::string s;
  for (const auto& e : elements) {
    if (!nft_word_ok(e)) refuse("bad nftables set element '" + shown(e) + "'");
    s += s.empty() ? "{ " : ", ";
    s += e;
  }
  return s.empty() ? s : s + " }";
}

Result<std::string> NftTable::script() const {
  if (!error_.empty()) return Error(Errc::invalid_argument, error_);
  std::string s = "add table inet " + name_ + "\n";
  s += (how_ == NftReplace::flush ? "flush table inet " : "delete table inet ") + name_ + "\n";
  s += "table inet " + name_ + " {\n";
  for (const auto& it : items_) {
    if (it.is_counter) {
      s += "  counter " + it.name + " {}\n";
      continue;
    }
    s += "  chain " + it.name + " {\n";
    if (!it.base.empty()) s += "    " + it.base + "\n";
    for (const auto& r : it.rules) s += "    " + r + "\n";
    s += "  }\n";
  }
  s += "}\n";
  return s;
}

Result<std::string> nft_remove_table_script(std::string_view table) {
  if (!nft_name_ok(table)) return Error(Errc::invalid_argument, "bad nftables table name '" + shown(table) + "'");
  const std::string t(table);
  return "add table inet " + t + "\ndelete table inet " + t + "\n";
}

}  // namespace ptun::hostio
