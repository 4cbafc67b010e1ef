// Tunnel address management for the server (sans-I/O): one IPv4 and/or one IPv6 pool, the
// server's own address (first host), static per-peer addresses from the config, and sticky
// leases by peer name that survive restarts (persisted by LeaseStore). A dynamic lease not seen
// for the expiry age is released when a pool runs out, so many names cannot exhaust it for good.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/net_addr.hpp"
#include "common/result.hpp"

namespace ptun::server {

struct Lease {
  std::optional<IpAddr> ipv4, ipv6;
  int64_t last_seen = 0;  // dynamic leases: unix seconds of the last acquire or session end
  bool operator==(const Lease&) const = default;
};

class AddressPool {
 public:
  AddressPool(std::optional<Cidr> v4_pool, std::optional<Cidr> v6_pool);

  // The server's own tunnel address in each pool (network + 1), with the pool's prefix.
  std::optional<Cidr> server_v4() const;
  std::optional<Cidr> server_v6() const;
  std::optional<Cidr> pool_v4() const { return v4_; }
  std::optional<Cidr> pool_v6() const { return v6_; }

  // Static addresses from [[peer]] entries: reserved for that peer only.
  Result<void> reserve_static(const std::string& peer, const Lease& addrs);
  // Leases read back from state_dir (ignored if outside the pools or taken by a static address).
  // One without last_seen (an older file) counts as seen at `now_s`.
  void restore(const std::map<std::string, Lease>& leases, int64_t now_s);

  // Dynamic leases not seen for `max_age_s` seconds may be released (0 = never).
  void set_expiry(int64_t max_age_s) { expiry_s_ = max_age_s; }
  // Whether a peer has a live session (its lease never expires while it does).
  using ActiveFn = std::function<bool(const std::string& peer)>;

  // The peer's addresses: its static ones, else its existing lease, else the lowest free ones;
  // stamps last_seen = now_s. When a pool is exhausted, leases of inactive peers past the expiry
  // age are released first; Errc::limit if that frees nothing.
  Result<Lease> acquire(const std::string& peer, int64_t now_s, const ActiveFn& active);
  // The peer was seen at `now_s` (its session ended): the expiry age counts from here.
  void touch(const std::string& peer, int64_t now_s);
  // Releases the dynamic leases of inactive peers not seen since now_s - expiry; their names.
  std::vector<std::string> expire(int64_t now_s, const ActiveFn& active);
  // Forget a dynamic lease (e.g. the peer was removed from the config).
  void release(const std::string& peer);

  const std::map<std::string, Lease>& leases() const { return dynamic_; }

 private:
  std::optional<IpAddr> next_free(const Cidr& pool, const std::set<IpAddr>& used) const;
  Result<Lease> allocate(const std::string& peer);
  bool in_use(const IpAddr& a) const;

  std::optional<Cidr> v4_, v6_;
  std::map<std::string, Lease> static_, dynamic_;
  std::set<IpAddr> used_;
  int64_t expiry_s_ = 0;
};

// Leases as a small JSON file in state_dir, written atomically (temp file + rename).
class LeaseStore {
 public:
  explicit LeaseStore(std::string path) : path_(std::move(path)) {}
  Result<std::map<std::string, Lease>> load() const;   // missing file = no leases
  Result<void> save(const std::map<std::string, Lease>& leases) const;

 private:
  std::string path_;
};

}  // namespace ptun::server
