#include "config/toml_reader.hpp"

#include <algorithm>

namespace ptun::config {

namespace {
std::string location(const std::string& file, const toml::source_position& at) {
  // Implicit tables (created by dotted keys) and the root have no source: point at 1:1.
  auto line = at.line ? at.line : 1, col = at.line ? at.column : 1;
  return file + ":" + std::to_string(line) + ":" + std::to_string(col);
}
}  // namespace

size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment (Levenshtein plus adjacent transpositions), three rolling rows.
  std::vector<size_t> prev2(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) cur[j] = std::min(cur[j], prev2[j - 2] + 1);
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string nearest_key(std::string_view unknown, const std::set<std::string, std::less<>>& known) {
  // Close enough to be a typo: at most 2 edits, and fewer than half the key's length (so that
  // "ip" is not offered for "mtu").
  if (unknown.size() < 2) return {};
  size_t limit = std::min<size_t>(2, (unknown.size() - 1) / 2), best_d = limit + 1;
  std::string best;
  for (const auto& k : known) {
    size_t d = edit_distance(unknown, k);
    if (d < best_d) best_d = d, best = k;  // ties: the first in sorted order, deterministic
  }
  return best;
}

void ReadContext::fail(const toml::source_position& at, const std::string& key,
                       const std::string& msg) {
  if (error_) return;
  std::string text = location(file_, at) + ": ";
  if (!key.empty()) text += key + ": ";
  text += msg;
  // One line, always: keys and values quoted in messages may hold escaped control characters.
  std::string clean;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      clean += "\\x";
      clean += hex[c >> 4];
      clean += hex[c & 15];
    } else {
      clean += char(c);
    }
  }
  error_ = Error(Errc::invalid_argument, std::move(clean));
}

const char* type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    default: return "nothing";
  }
}

Result<toml::table> parse_toml(std::string_view text, const std::string& name) {
  toml::parse_result parsed = toml::parse(text, name);
  if (!parsed) {
    const auto& e = parsed.error();
    return Error(Errc::invalid_argument,
                 location(name, e.source().begin) + ": " + std::string(e.description()));
  }
  return std::move(parsed).table();
}

TableReader::TableReader(ReadContext& ctx, const toml::table& table, std::string path,
                         toml::source_position at)
    : ctx_(ctx), table_(table), path_(std::move(path)), at_(at) {}

std::string TableReader::key_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

const toml::node* TableReader::get(std::string_view key, bool required) {
  if (failed()) return nullptr;
  known_.emplace(key);
  const toml::node* n = table_.get(key);
  if (!n && required) ctx_.fail(at_, key_path(key), "required key is missing");
  return n;
}

bool TableReader::string(std::string_view key, std::string& out, bool required) {
  return string(key, [&](const std::string& s) { out = s; return std::string(); }, required);
}

bool TableReader::string(std::string_view key, const StringFn& apply, bool required) {
  const toml::node* n = get(key, required);
  if (!n) return !failed();
  if (!n->is_string()) {
    ctx_.fail(n->source().begin, key_path(key),
              std::string("expected a string, got ") + type_name(n->type()));
    return false;
  }
  std::string why = apply(n->as_string()->get());
  if (!why.empty()) ctx_.fail(n->source().begin, key_path(key), why);
  return why.empty();
}

bool TableReader::u32(std::string_view key, uint32_t& out, uint32_t lo, uint32_t hi,
                      std::string_view range) {
  const toml::node* n = get(key);
  if (!n) return !failed();
  if (!n->is_integer()) {
    ctx_.fail(n->source().begin, key_path(key),
              std::string("expected an integer, got ") + type_name(n->type()));
    return false;
  }
  int64_t v = n->as_integer()->get();
  if (v < int64_t(lo) || v > int64_t(hi)) {
    ctx_.fail(n->source().begin, key_path(key),
              std::to_string(v) + " is out of range " +
                  (range.empty() ? std::to_string(lo) + ".." + std::to_string(hi)
                                 : std::string(range)));
    return false;
  }
  out = uint32_t(v);
  return true;
}

bool TableReader::boolean(std::string_view key, bool& out) {
  const toml::node* n = get(key);
  if (!n) return !failed();
  if (!n->is_boolean()) {
    ctx_.fail(n->source().begin, key_path(key),
              std::string("expected true or false, got ") + type_name(n->type()));
    return false;
  }
  out = n->as_boolean()->get();
  return true;
}

bool TableReader::string_array(std::string_view key, size_t max_items, const StringFn& apply) {
  const toml::node* n = get(key);
  if (!n) return !failed();
  const toml::array* arr = n->as_array();
  if (!arr) {
    ctx_.fail(n->source().begin, key_path(key),
              std::string("expected an array of strings, got ") + type_name(n->type()));
    return false;
  }
  if (arr->size() > max_items) {
    ctx_.fail(n->source().begin, key_path(key),
              std::to_string(arr->size()) + " entries, at most " + std::to_string(max_items) +
                  " allowed");
    return false;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::node& el = (*arr)[i];
    std::string elem_path = key_path(key) + "[" + std::to_string(i) + "]";
    if (!el.is_string()) {
      ctx_.fail(el.source().begin, elem_path,
                std::string("expected a string, got ") + type_name(el.type()));
      return false;
    }
    std::string why = apply(el.as_string()->get());
    if (!why.empty()) {
      ctx_.fail(el.source().begin, elem_path, why);
      return false;
    }
  }
  return true;
}

std::optional<TableReader> TableReader::table(std::string_view key, bool required) {
  const toml::node* n = get(key, required);
  if (!n) return std::nullopt;
  if (!n->is_table()) {
    ctx_.fail(n->source().begin, key_path(key),
              std::string("expected a table, got ") + type_name(n->type()));
    return std::nullopt;
  }
  return TableReader(ctx_, *n->as_table(), key_path(key), n->source().begin);
}

bool TableReader::table_array(std::string_view key, size_t max_items,
                              const std::function<void(TableReader&)>& each) {
  const toml::node* n = get(key);
  if (!n) return !failed();
  const toml::array* arr = n->as_array();
  if (!arr) {
    ctx_.fail(n->source().begin, key_path(key),
              std::string("expected [[") + std::string(key) + "]] tables, got " +
                  type_name(n->type()));
    return false;
  }
  if (arr->size() > max_items) {
    ctx_.fail(n->source().begin, key_path(key),
              std::to_string(arr->size()) + " entries, at most " + std::to_string(max_items) +
                  " allowed");
    return false;
  }
  for (size_t i = 0; i < arr->size() && !failed(); ++i) {
    const toml::node& el = (*arr)[i];
    std::string elem_path = key_path(key) + "[" + std::to_string(i) + "]";
    if (!el.is_table()) {
      ctx_.fail(el.source().begin, elem_path,
                std::string("expected a table, got ") + type_name(el.type()));
      return false;
    }
    TableReader r(ctx_, *el.as_table(), elem_path, el.source().begin);
    each(r);
    if (!failed()) r.finish();
  }
  return !failed();
}

void TableReader::fail_at(std::string_view key, const std::string& msg) {
  const toml::node* n = table_.get(key);
  ctx_.fail(n ? n->source().begin : at_, key_path(key), msg);
}

void TableReader::fail_here(const std::string& msg) { ctx_.fail(at_, path_, msg); }

bool TableReader::finish() {
  if (failed()) return false;
  // toml++ keeps keys sorted; report the unknown key that comes first in the file.
  const toml::key* first = nullptr;
  toml::source_position first_at{};
  for (auto&& [k, v] : table_) {
    if (known_.count(k.str())) continue;
    auto at = k.source().begin.line ? k.source().begin : v.source().begin;
    if (!first || at < first_at) first = &k, first_at = at;
  }
  if (!first) return true;
  std::string msg = "unknown key";
  if (auto near = nearest_key(first->str(), known_); !near.empty()) msg += "; did you mean `" + key_path(near) + "`?";
  ctx_.fail(first_at, key_path(first->str()), msg);
  return false;
}

}  // namespace ptun::config
