// One session per peer across the cluster, sans-I/O: which session records this server writes to
// etcd and which of its own sessions it must close because the peer connected elsewhere.
//
// Keys under the cluster prefix P:
//   P/sessions/<cn>   {"server","session","at"}: where the peer's newest session lives, put under
//                     the writing server's etcd lease (kept alive while it runs; a dead server's
//                     records go with its lease).
//
// The newest established session wins: a server puts its record when a session is established
// (no compare: it overwrites the record of the peer's older session elsewhere). Every server reads
// the records changed since its last look (a poll with min_mod_revision, ClusterNode); a record of
// another server written after its own (mod_revision greater than the revision its own put got)
// means the peer moved: its session here is closed. etcd orders all writes, so every server agrees
// on which record is newest.
//
// The book holds this server's view: the live session of each peer here and what it last wrote
// for it. Writes are derived from that view one peer at a time (next_write), so a put and the
// delete that follows it can never overtake each other, and a write that failed is retried by the
// next call: after an etcd outage the book writes what is true now, not a backlog.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/etcd_wire.hpp"
#include "common/result.hpp"

namespace ptun::cluster {

struct SessionRecord {
  std::string server;
  uint64_t session = 0;
  int64_t at = 0;   // unix seconds of the put
  bool operator==(const SessionRecord&) const = default;
};
std::string encode_session_record(const SessionRecord& r);
Result<SessionRecord> decode_session_record(std::string_view json);

// A session of this server to close: the peer's record names another server, written later.
struct Kick {
  std::string cn;
  uint64_t session = 0;
  std::string server;   // where the peer is now
};

class SessionBook {
 public:
  SessionBook(std::string prefix, std::string server);

  std::string key(const std::string& cn) const { return prefix_ + cn; }
  const std::string& prefix() const { return prefix_; }   // "P/sessions/"

  // Events of this server's sessions. up(): established here, the peer's newest session (a second
  // up() of the same peer replaces the first). down(): ended; ignored unless it is the live one.
  void up(const std::string& cn, uint64_t session);
  void down(const std::string& cn, uint64_t session);
  // This server's etcd lease expired (etcd deleted every record under it): each live session's
  // record is written again under the new lease, but only where no other server has written a
  // record since (create_revision == 0): the peer may have moved during the outage.
  void lease_lost();

  struct Write {
    std::string cn;
    uint64_t session = 0;   // 0: a delete
    std::string value;      // put: the record written; delete: the record it removes if still ours
    int64_t lease = 0;
    TxnRequest txn;
  };
  // The next write that brings etcd in line with this view (nullopt: in line). The same write
  // again until written() or failed() is called for it.
  std::optional<Write> next_write(int64_t lease, int64_t now_s);
  // The write's answer. A kick when the session written lost to a newer record of another server
  // (seen by a poll while the put was on its way, or found in place of a re-written record).
  std::optional<Kick> written(const Write& w, const TxnResponse& r);
  // The write got no answer: it stays to do, tried again after the next call to etcd works. A put
  // may have been applied all the same: if the session ends first, that record is deleted too.
  void failed(const Write& w);

  // The poll: records changed since the last one seen (all at first), or every record (`full`).
  // A range shows no deletes: a record of ours overwritten by another server and deleted by it
  // between two polls (the peer came and went there) is seen missing only by a full look.
  RangeRequest changes(bool full = false) const;
  // Its answer; `revision` is the store's revision of that answer. Sessions to close. A full
  // answer also finds our records that are gone: a live session's is written again (only where
  // nobody wrote since), a closed one's is forgotten.
  std::vector<Kick> observe(const RangeResponse& r, int64_t revision, bool full = false);

  size_t live() const;
  size_t pending() const { return dirty_.size(); }
  uint64_t records_lost() const { return records_lost_; }   // live sessions' records found gone
  int64_t seen_revision() const { return seen_rev_; }

 private:
  struct Entry {
    uint64_t live = 0;            // this server's session of the peer (0: none)
    bool fresh = false;           // established since the last write: overwrite whatever is there
    std::string written;          // the record of ours etcd holds (as far as we know), "" none
    uint64_t written_session = 0;
    int64_t written_rev = 0, written_lease = 0;
    // A put whose answer never came (failed()): etcd may hold it all the same (applied, then the
    // connection broke), so a session that ends deletes it too, if it is there unchanged.
    std::string attempted;
    int64_t foreign_rev = 0;      // newest record of another server seen while a put was pending
    std::string foreign_server;
  };
  std::optional<Kick> kick_if_newer(const std::string& cn, Entry& e, int64_t rev, const std::string& server);
  void forget_missing(const RangeResponse& r, int64_t revision);   // a full look's lost records
  void settle(const std::string& cn);   // drops an entry with nothing live and nothing written

  std::string prefix_, server_;
  std::map<std::string, Entry> entries_;
  std::set<std::string> dirty_;
  int64_t seen_rev_ = 0;
  uint64_t records_lost_ = 0;
};

}  // namespace ptun::cluster
