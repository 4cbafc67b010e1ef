// The crash-safe journal of host changes. Every change ptun makes to the host (a route, a policy
// rule, an nftables table, a file it rewrote, a resolved link, a dnsmasq conf-dir file) is appended to
// <state_dir>/netcfg.journal and fsync'ed BEFORE the change is made, so that after any crash
// (SIGKILL, power loss) replaying the journal backwards undoes exactly what may have been done.
// Undo actions are idempotent (deleting what is not there is fine), so replaying an entry whose
// change never happened, or replaying twice, is harmless.
//
// Format: one entry per line, fields separated by single spaces, every field percent-encoded
// (so file contents, paths and names survive byte for byte). First line "ptun-netcfg-journal 1".
// A "begin" line, entries and a "commit" line replace everything before them (how a process that
// may no longer create files rewrites the journal: by appending); a block without its commit (a
// crash while appending it) is ignored.
//
// Trust: the journal is replayed as root (the next start, `ptun cleanup`), so it must not be a
// way for an unprivileged process to make root write files or run nft scripts. The file lives in
// a root-owned state_dir that is never handed to the configured `user`; it is opened once, as
// root and with O_NOFOLLOW, before privileges are dropped, and written through that descriptor
// afterwards. A journal or directory that another uid owns or may write is refused, and every
// entry must be something ptun itself writes (JournalPolicy) or the whole journal is refused.
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "netlink/rtnl_types.hpp"

namespace ptun::netcfg {

struct Change {
  enum class Kind { route, rule, nft_table, file, resolved_link, dnsmasq_file };
  Kind kind = Kind::route;
  netlink::Route route;          // route: delete it
  netlink::Rule rule;            // rule: delete it
  std::string name;              // nft_table: "delete table inet NAME"; resolved_link: "resolvectl revert NAME"
  std::string path;              // file: restore `content` (or remove it when !existed);
                                 // dnsmasq_file: remove it, then restart dnsmasq (dnsmasq_conf.hpp)
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

// What ptun itself journals, so what a replay may undo: restores of the files it manages, nft
// tables with ptun's names, routes and rules of its own tables (they carry ptun's route protocol
// on delete, netlink/rtnl_types.hpp), resolved state of its own interface, the dnsmasq file of
// its own config. Empty lists mean "no restriction" (unit tests of the codec only).
struct JournalPolicy {
  std::vector<std::string> files;
  std::vector<uint32_t> tables;
  std::string interface;
  std::vector<std::string> dnsmasq_files;
  bool restricted() const {
    return !files.empty() || !tables.empty() || !interface.empty() || !dnsmasq_files.empty();
  }
};
// Errc::auth naming the entry when `c` is not something ptun journals under `p`.
Result<void> check_change(const Change& c, const JournalPolicy& p);
// ptun's nftables table names: "ptun" then up to 27 of [a-z0-9_] (no spaces, quotes or ';').
bool is_ptun_nft_name(std::string_view name);

// The journal file. Not thread-safe. Holds its descriptor from the first use (open()) to the end.
class Journal {
 public:
  explicit Journal(std::string path, JournalPolicy policy = {})
      : path_(std::move(path)), policy_(std::move(policy)) {}
  Journal(Journal&& o) noexcept;
  Journal& operator=(Journal&&) = delete;
  Journal(const Journal&) = delete;
  ~Journal();
  const std::string& path() const { return path_; }
  // Opens (creating) the file with O_NOFOLLOW. Errc::auth when the file is not a regular file
  // owned by this process's effective uid, or group/other-writable, or its directory is not owned
  // by this uid or is group/other-writable. Idempotent; the other calls open on first use.
  Result<void> open();
  // The changes a previous run left (empty if there is none), each checked against the policy.
  // Errc::io, invalid_argument (malformed), auth (see open(), or an entry ptun never writes).
  Result<std::vector<Change>> load();
  // Appends one change and fsyncs the file (and its directory when created). Errc::io.
  Result<void> append(const Change& c);
  // Makes the journal hold exactly `changes`: a truncation when they are what the file starts
  // with (the usual rollback), else an appended begin/commit block. Errc::io.
  Result<void> rewrite(const std::vector<Change>& changes);

 private:
  std::string path_;
  JournalPolicy policy_;
  int fd_ = -1;
  // The live entries as encoded, each with the file offset where its line ends, and the offset
  // a truncation may not go below (after the last commit, or the header).
  std::vector<std::pair<std::string, off_t>> lines_;
  off_t live_start_ = 0;
  size_t block_count_ = 0;        // live entries inside the last committed block
  std::vector<Change> changes_;   // the live entries, decoded
  bool has_header_ = false;
};

}  // namespace ptun::netcfg
