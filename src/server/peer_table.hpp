// The server's peer state in one sans-I/O table: which peers are configured ([[peer]] by name),
// who is connected (session -> peer), which addresses each peer holds (AddressPool: static, sticky leases, expiry) and which session owns
// an inner address (PeerRoutes: forwarding and anti-spoofing). The Server feeds it the session
// events and the clock; persisting the leases (LeaseStore) stays with the Server.
//
// Invariants: a peer name has at most one registered session (session_of); a session's host
// addresses and routes_behind are in the routes exactly while the session is registered, except
// that a newer session of the same peer takes them over.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "config/config.hpp"
#include "server/address_pool.hpp"
#include "server/peer_routes.hpp"

namespace ptun::server {

struct Peer {  // one live session's bookkeeping
  std::string name;
  Lease lease;
  std::vector<Cidr> routes_behind;
  Endpoint endpoint;
  uint64_t started_ms = 0;
};

class PeerTable {
 public:
  PeerTable(std::optional<Cidr> v4_pool, std::optional<Cidr> v6_pool) : pool_(v4_pool, v6_pool) {}

  // ---- configured peers ([[peer]]) ----------------------------------------------------------
  // Set at start and on every reload; the entries must outlive the table's use of them (they
  // are the Server's config, replaced only together with a new configure()).
  void configure(const std::vector<config::PeerConfig>& peers);
  // The [[peer]] entry of that certificate name, or nullptr.
  const config::PeerConfig* configured(const std::string& name) const;

  // ---- addresses --------------------------------------------------------------------------
  std::optional<Cidr> server_v4() const { return pool_.server_v4(); }
  std::optional<Cidr> server_v6() const { return pool_.server_v6(); }
  Result<void> reserve_static(const std::string& peer, const Lease& addrs) { return pool_.reserve_static(peer, addrs); }
  void restore(const std::map<std::string, Lease>& leases, int64_t now_s) { pool_.restore(leases, now_s); }
  void set_expiry(int64_t max_age_s) { pool_.set_expiry(max_age_s); }
  const std::map<std::string, Lease>& leases() const { return pool_.leases(); }
  void release(const std::string& peer) { pool_.release(peer); }
  // The addresses for a new session of `peer` (AddressPool::acquire; a peer with a registered
  // session counts as active, so its lease is never expired for another). Errc::limit: none free.
  Result<Lease> lease(const std::string& peer, int64_t now_s);
  // Releases the expired dynamic leases of peers without a session; their names.
  std::vector<std::string> expire(int64_t now_s);

  // ---- sessions ---------------------------------------------------------------------------
  // Registers a session (after lease()): its addresses and routes_behind now route to it, and it
  // becomes the peer's session. An earlier session of the peer should be closed first.
  void add(uint64_t session, Peer p);
  void set_endpoint(uint64_t session, const Endpoint& e);  // established, roamed
  // The session ended: the routes it still owns go (a newer session of the peer keeps those it
  // took over), the peer's lease ages from now_s. The removed entry, or nullopt.
  std::optional<Peer> remove(uint64_t session, int64_t now_s);
  const Peer* find(uint64_t session) const;
  std::optional<uint64_t> session_of(const std::string& peer) const;
  const std::unordered_map<uint64_t, Peer>& sessions() const { return peers_; }
  size_t size() const { return peers_.size(); }

  // ---- forwarding (per packet) ------------------------------------------------------------
  static constexpr uint64_t kRefused = PeerRoutes::kRefused;
  uint64_t lookup(const IpAddr& dst) const { return routes_.lookup(dst); }
  uint64_t next_hop(uint64_t from, const IpAddr& dst, bool client_to_client) const {
    return routes_.next_hop(from, dst, client_to_client);
  }
  bool source_allowed(uint64_t session, const IpAddr& src) const { return routes_.source_allowed(session, src); }

 private:
  AddressPool pool_;
  PeerRoutes routes_;
  std::unordered_map<uint64_t, Peer> peers_;
  std::map<std::string, uint64_t> session_by_peer_;
  std::map<std::string, const config::PeerConfig*> configured_;
};

}  // namespace ptun::server
