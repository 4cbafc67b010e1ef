// A small typed reader over a parsed toml::table. It remembers which keys were read (so unknown
// keys can be reported), builds key paths for messages ("tunnel.mtu", "peer[2].ipv4") and keeps
// the FIRST error only, formatted as "FILE:LINE:COL: KEY: message". After an error every call is a
// no-op returning false, so validation code can be written straight-line.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "config/toml.hpp"

namespace ptun::config {

// Shared by all readers of one document.
class ReadContext {
 public:
  explicit ReadContext(std::string file) : file_(std::move(file)) {}
  const std::string& file() const { return file_; }
  bool failed() const { return error_.has_value(); }
  const Error& error() const { return *error_; }
  // Records the error unless one is already recorded. Line/column 0 (no source) becomes 1:1.
  void fail(const toml::source_position& at, const std::string& key, const std::string& msg);

 private:
  std::string file_;
  std::optional<Error> error_;
};

// Converts one string value; returns "" on success or the reason it is invalid.
using StringFn = std::function<std::string(const std::string&)>;

class TableReader {
 public:
  // `path` is the table's key path ("" for the root); `at` is where to report missing keys.
  TableReader(ReadContext& ctx, const toml::table& table, std::string path,
              toml::source_position at);

  std::string key_path(std::string_view key) const;
  bool failed() const { return ctx_.failed(); }

  // The value at `key` (marking it as known), or nullptr if absent / after an error. With
  // required = true a missing key is an error reported at the table.
  const toml::node* get(std::string_view key, bool required = false);

  bool string(std::string_view key, std::string& out, bool required = false);
  bool string(std::string_view key, const StringFn& apply, bool required = false);
  // `range` replaces "LO..HI" in the out-of-range message when the valid set has holes.
  bool u32(std::string_view key, uint32_t& out, uint32_t lo, uint32_t hi,
           std::string_view range = {});
  bool boolean(std::string_view key, bool& out);
  // An array of strings; `apply` is called per element (path "key[i]"). Arrays longer than
  // max_items are rejected.
  bool string_array(std::string_view key, size_t max_items, const StringFn& apply);
  // An optional sub-table: returns a reader for it, or nullopt if absent (or not a table: error).
  std::optional<TableReader> table(std::string_view key, bool required = false);
  // An optional array of tables ([[key]]): calls `each` with a reader per element.
  bool table_array(std::string_view key, size_t max_items,
                   const std::function<void(TableReader&)>& each);

  // Reports an error at a value's position (e.g. a cross-field check after reading).
  void fail_at(std::string_view key, const std::string& msg);
  // Reports an error at the table's position.
  void fail_here(const std::string& msg);
  // Reports the first key that was never asked for. Call after reading every known key.
  bool finish();

 private:
  ReadContext& ctx_;
  const toml::table& table_;
  std::string path_;
  toml::source_position at_;
  std::set<std::string, std::less<>> known_;
};

// Edits (insert, delete, substitute, swap two adjacent characters) turning a into b.
size_t edit_distance(std::string_view a, std::string_view b);
// The key of `known` nearest to `unknown` when it looks like a typo of it, else "".
std::string nearest_key(std::string_view unknown, const std::set<std::string, std::less<>>& known);

// "string", "integer", ... for messages.
const char* type_name(toml::node_type t);
// Parses TOML text (already screened) into `out`; on a syntax error returns
// "FILE:LINE:COL: message".
Result<toml::table> parse_toml(std::string_view text, const std::string& name);

}  // namespace ptun::config
