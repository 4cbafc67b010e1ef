// nftables scripts, the one place ptun writes them (sans-I/O: text for `nft -f -`, run by
// run_nft): the client's kill switch and enforced routes (netcfg), per-app routing (apps) and the
// server's masquerade (server) each describe one `inet` table here.
//
// What goes between quotes (interface names, cgroup paths), a set's elements and the names of
// tables, chains and counters are checked, not escaped (nft has no escapes): a script holding a
// refused one is not produced at all, so no input can add a rule or a table of its own.
//
// Every script replaces its table in one transaction ("add table" first, so the second command
// works whether or not the table exists): there is never a window without rules, whether it is
// the first install, an update, or a restart over a table left by a crash.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace ptun::hostio {

// Names of tables, chains and counters: a letter, then letters, digits and '_'; 1..63 bytes.
bool nft_name_ok(std::string_view name);
// What nft accepts between double quotes: no '"', '\\' or control characters.
bool nft_quotable(std::string_view s);
// A set element or any other word of a rule: non-empty, [A-Za-z0-9:./_-] only.
bool nft_word_ok(std::string_view s);
// "0x" + lower-case hex of v, at least `digits` digits ("0x7074", or "0x00007074" with 8).
std::string nft_hex(uint32_t v, int digits = 0);

// How a script replaces an existing table of the same name.
enum class NftReplace : uint8_t {
  flush,      // add + flush: its rules go, the table object stays
  recreate,   // add + delete: a new table (no leftover counters or chains of another version)
};

class NftTable {   // one `table inet NAME { ... }`, built in order
 public:
  NftTable(std::string_view name, NftReplace how);

  // A named counter ("counter NAME {}").
  NftTable& counter(std::string_view name);
  // Starts a chain: the rules added next go into it. `base`, for a base chain, is its
  // "type ... hook ... priority ...; policy ...;" line; empty for a regular chain.
  NftTable& chain(std::string_view name, std::string_view base = {});
  // A rule of the current chain, one line (a newline or control character fails the script).
  NftTable& rule(std::string_view text);

  // `s` between double quotes, for a rule; a string nft cannot quote fails the script.
  std::string quote(std::string_view s);
  // "{ a, b }" of the elements, "" when there are none; a bad element fails the script.
  std::string set(const std::vector<std::string>& elements);

  // The script. Errc::invalid_argument naming the first refused name, string or element (or a
  // rule outside any chain).
  Result<std::string> script() const;

 private:
  void refuse(const std::string& why);
  struct Item {
    bool is_counter = false;
    std::string name, base;
    std::vector<std::string> rules;
  };
  std::string name_;
  NftReplace how_;
  std::vector<Item> items_;
  std::string error_;   // the first refusal
};

// Removes a table: "add table" + "delete table", so it works whether or not the table exists.
// Errc::invalid_argument for a bad name.
Result<std::string> nft_remove_table_script(std::string_view table);

}  // namespace ptun::hostio
