// Shared revocation, sans-I/O: certificate serials revoked for the whole cluster, read from etcd.
//
//   P/revoked/<serial>   any value (who and why, for people): the certificate with that serial is
//                        refused at the handshake and its sessions are closed, on every server.
//
// <serial> is the certificate's serial in hex as `ptun pki list` / `ptun pki revoke` print it;
// colons, upper case and leading zero bytes are accepted and ignored. The servers poll the keys
// changed since their last look (min_mod_revision), and read the whole prefix every
// kFullEvery polls, which is when a deleted key (revocation withdrawn) stops applying.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/etcd_wire.hpp"

namespace ptun::cluster {

// "0A:1b:..." -> "0a1b...", leading "00" bytes dropped; nullopt if not hex.
std::optional<std::string> normalize_serial(std::string_view s);

class Revocations {
 public:
  static constexpr int kFullEvery = 30;   // polls

  explicit Revocations(const std::string& prefix);

  const std::string& prefix() const { return prefix_; }   // "P/revoked/"
  // The next poll's range: changes since the last answer, or the whole prefix (first, then every
  // kFullEvery polls).
  RangeRequest changes() const;
  // Its answer (the store's `revision`): the serials newly revoked (to close their sessions).
  std::vector<std::string> observe(const RangeResponse& r, int64_t revision);

  bool revoked(const std::string& serial_hex) const;   // normalized or not
  size_t size() const { return serials_.size(); }
  bool loaded() const { return seen_rev_ > 0; }

 private:
  bool full_next() const { return seen_rev_ == 0 || polls_ % kFullEvery == 0; }
  std::string prefix_;
  std::set<std::string> serials_;
  int64_t seen_rev_ = 0;
  uint64_t polls_ = 0;
};

}  // namespace ptun::cluster
