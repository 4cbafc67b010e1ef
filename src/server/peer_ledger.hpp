// Lifetime numbers per peer name for the metrics, pure: they survive reconnects (a session id is
// random and new each time; the certificate's CN / [[peer]] name is what an operator graphs).
//
// Cardinality is bounded: every [[peer]] name has its entry; other names (no [[peer]] list, so
// any certificate of the CA is accepted, or refused names) get one each up to `max_unlisted`,
// then share the entry kOther. A live session's counters are added on top at render time; an
// ended session's final counters are folded in by ended().
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "proto/session_stats.hpp"

namespace ptun::server {

struct PeerTotals {
  uint64_t bytes_in = 0, bytes_out = 0, packets_in = 0, packets_out = 0, roams = 0;  // of ended sessions
  uint64_t handshakes = 0;        // DTLS handshakes completed with this name (refused ones too)
  uint64_t sessions = 0;          // sessions established
  int64_t last_handshake_unix = 0;
  int64_t cert_not_after = 0;     // of the certificate last presented (0: unknown)
};

class PeerLedger {
 public:
  // The label value names over the bound share (a CN spelled "(other)" would share it too).
  static constexpr const char* kOther = "(other)";
  static constexpr size_t kDefaultMaxUnlisted = 256;

  explicit PeerLedger(size_t max_unlisted = kDefaultMaxUnlisted) : max_unlisted_(max_unlisted) {}
  // The [[peer]] names (start, reload): each gets an entry (zeros until it connects). A name no
  // longer listed keeps its numbers as an unlisted one if there is room, else it is forgotten.
  void set_listed(const std::vector<std::string>& names);
  // The label value `name` is counted under: itself if it has an entry or one can be made, else kOther.
  std::string key(const std::string& name);
  PeerTotals& at(const std::string& name) { return entries_[key(name)]; }
  // The same without making an entry (render time): the name's own entry, else kOther.
  std::string label(const std::string& name) const { return entries_.count(name) ? name : kOther; }
  void handshake(const std::string& name, int64_t now_unix, int64_t cert_not_after);
  void established(const std::string& name) { ++at(name).sessions; }
  void ended(const std::string& name, const proto::SessionStats& final_stats);
  const std::map<std::string, PeerTotals>& entries() const { return entries_; }
  size_t unlisted() const { return unlisted_; }

 private:
  size_t max_unlisted_;
  size_t unlisted_ = 0;   // entries that are not listed (kOther included)
  std::set<std::string> listed_;
  std::map<std::string, PeerTotals> entries_;
};

}  // namespace ptun::server
