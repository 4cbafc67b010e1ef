// The crash-safe journal of host changes. Every change ptun makes to the host (a route, a policy
// rule, an nftables table, a file it rewrote, a resolved link) is appended to
// <state_dir>/netcfg.journal and fsync'ed BEFORE the change is made, so that after any crash
// (SIGKILL, power loss) replaying the journal backwards undoes exactly what may have been done.
// Undo actions are idempotent (deleting what is not there is fine), so replaying an entry whose
// change never happened, or replaying twice, is harmless.
//
// Format: one entry per line, fields separated by single spaces, every field percent-encoded
// (so file contents, paths and names survive byte for byte). First line "ptun-netcfg-journal 1".
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "netlink/rtnl_types.hpp"

namespace ptun::netcfg {

struct Change {
  enum class Kind { route, rule, nft_table, file, resolved_link };
  Kind kind = Kind::route;
  netlink::Route route;          // route: delete it
  netlink::Rule rule;            // rule: delete it
  std::string name;              // nft_table: "delete table inet NAME"; resolved_link: "resolvectl revert NAME"
  std::string path;              // file: restore `content` (or remove it when !existed)
  bool existed = false;
  std::string content;
  bool operator==(const Change&) const = default;
};

// Pure codec. decode_change: Errc::invalid_argument for a malformed line.
std::string encode_change(const Change& c);
Result<Change> decode_change(std::string_view line);
// A whole journal's text: the changes in the order they were made. A torn last line (a crash in
// the middle of an append) is ignored; any other malformed line is an error.
Result<std::vector<Change>> decode_journal(std::string_view text);
std::string encode_journal(const std::vector<Change>& changes);

// The journal file. Not thread-safe.
class Journal {
 public:
  explicit Journal(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }
  // The changes a previous run left (empty if there is no journal). Errc::io, invalid_argument.
  Result<std::vector<Change>> load() const;
  // Appends one change and fsyncs the file (and its directory when created). Errc::io.
  Result<void> append(const Change& c);
  // Replaces the journal with `changes` atomically (temp file, fsync, rename); removes the file
  // when `changes` is empty. Errc::io.
  Result<void> rewrite(const std::vector<Change>& changes);

 private:
  std::string path_;
};

}  // namespace ptun::netcfg
