// Per-client memory budget for userspace forwarding: what one client's TCP connections pin in
// lwIP (received bytes not yet relayed, send buffers waiting for its ACKs) and in relay buffers.
// Without it one authenticated client could pin TCP_WND + TCP_SND_BUF (2 MiB) per connection,
// times its flow cap, and more with tiny segments. Pure bookkeeping (no lwIP, no clock): the
// connections charge and release, the forwarder owns the table, keyed by client address.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "common/net_addr.hpp"

namespace ptun::netstack {

struct BudgetStats {
  uint64_t refused = 0;         // charges refused (new data refused or deferred)
  uint64_t refused_bytes = 0;   // bytes of those charges
};

class ByteBudget {
 public:
  // stats (may be null) must outlive the budget; it counts refusals of every client.
  explicit ByteBudget(size_t limit, BudgetStats* stats = nullptr) : limit_(limit), stats_(stats) {}
  // Takes n bytes if they fit under the limit; otherwise takes nothing, counts the refusal and
  // returns false.
  bool try_charge(size_t n);
  // Takes n bytes whatever the limit (memory already held, e.g. a relay buffer): the overshoot
  // only leaves less room to later try_charge calls.
  void charge(size_t n) { used_ += n; }
  // Gives back n bytes (more than used_ is a caller bug: clamped to 0).
  void release(size_t n) { used_ = n > used_ ? 0 : used_ - n; }
  size_t used() const { return used_; }
  size_t limit() const { return limit_; }
  size_t room() const { return used_ >= limit_ ? 0 : limit_ - used_; }
  uint64_t refused() const { return refused_; }

 private:
  size_t limit_;
  size_t used_ = 0;
  uint64_t refused_ = 0;
  BudgetStats* stats_;
};

// One ByteBudget per client address, shared by that client's connections (shared_ptr: a
// connection may outlive the flow bookkeeping by a little). A client's entry goes away when
// nothing holds it any more (prune).
class BudgetTable {
 public:
  explicit BudgetTable(size_t per_client_limit) : limit_(per_client_limit) {}
  std::shared_ptr<ByteBudget> get(const IpAddr& client);
  // Drops entries nobody holds. Returns how many remain.
  size_t prune();
  size_t clients() const { return table_.size(); }
  size_t limit() const { return limit_; }
  // Bytes charged to all live budgets.
  size_t used() const;
  const BudgetStats& stats() const { return stats_; }

 private:
  size_t limit_;
  BudgetStats stats_;
  std::unordered_map<IpAddr, std::weak_ptr<ByteBudget>, IpAddrHash> table_;
};

}  // namespace ptun::netstack
