// Shared address leases in etcd, sans-I/O: which transactions allocate, keep and release a peer's
// tunnel addresses so that two servers never hand one address to two peers and a peer gets the
// same addresses on every server.
//
// Keys under the cluster prefix P:
//   P/peers/<cn>      the peer's record (PeerRecord as JSON): its addresses, the server that holds
//                     it, active or released. No etcd lease while active; a released record is
//                     put under a lease of the grace period's TTL, so etcd itself forgets it.
//   P/leases/<addr>   value <cn>: the address is taken; same etcd lease as the record.
//
// One acquire = two round trips: a read (one txn with two ranges: the peer's record and every
// P/leases/ key) and a commit txn whose compares make it fail if anything read has changed since
// (create_revision == 0 for keys that must not exist yet, mod_revision == seen for the ones
// reused). A failed commit means another server raced us: read again (AllocPlan::kMaxAttempts).
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "cluster/etcd_wire.hpp"
#include "common/net_addr.hpp"
#include "common/result.hpp"

namespace ptun::cluster {

struct Addresses {
  std::optional<IpAddr> ipv4, ipv6;
  bool operator==(const Addresses&) const = default;
};

struct PeerRecord {
  Addresses addrs;
  std::string server;      // who holds (or last held) the peer
  bool active = false;     // connected (true) or released for the grace period
  int64_t at = 0;          // unix seconds of the last change
  // Which acquire wrote it (ClusterLeases counts them): a release compares the whole record, and
  // without it a re-acquire in the same second by the same server would look like the old one.
  uint64_t gen = 0;
  bool operator==(const PeerRecord&) const = default;
};
std::string encode_peer_record(const PeerRecord& r);
Result<PeerRecord> decode_peer_record(std::string_view json);

struct AllocConfig {
  std::string prefix;                   // e.g. "/ptun"; no trailing slash
  std::string server;                   // this server's name (records say who holds a peer)
  std::optional<Cidr> v4_pool, v6_pool; // as [tunnel]; the first host is the servers' address
  std::set<IpAddr> reserved;            // static [[peer]] addresses: never allocated
};

std::string peer_key(const AllocConfig& c, const std::string& cn);
std::string lease_key(const AllocConfig& c, const IpAddr& a);
std::string leases_prefix(const AllocConfig& c);

// What to commit for one acquire, decided from a read.
struct Claim {
  Addresses addrs;
  PeerRecord record;   // what the commit writes (release() compares against it)
  TxnRequest commit;
};

class AllocPlan {
 public:
  static constexpr int kMaxAttempts = 8;  // reads+commits before giving up (a storm of races)

  // The read: ranges[0] = the peer's record, ranges[1] = every lease key with its owner.
  static TxnRequest read(const AllocConfig& c, const std::string& cn);
  // The commit for that read's answer: the record's addresses where still valid and owned by the
  // peer, else free ones (none of `in_flight`: addresses this server's other acquires are
  // committing right now; the scan starts at a hash of the peer's name). Errc::limit: a pool is exhausted; Errc::protocol: the read's
  // answer does not have the two ranges.
  static Result<Claim> decide(const AllocConfig& c, const std::string& cn, const TxnResponse& read, int64_t now_s,
                              const std::set<IpAddr>& in_flight = {}, uint64_t gen = 0);
  // The release at session end: if the record is still the one `held` (no other server took the
  // peer since), put it back as released under `grace_lease` (an etcd lease of the grace TTL).
  static TxnRequest release(const AllocConfig& c, const std::string& cn, const PeerRecord& held,
                            int64_t grace_lease, int64_t now_s);
};

}  // namespace ptun::cluster
