// App attribution of a new flow: a locally originated (or locally terminated) TCP/UDP flow is
// looked up with sock_diag (uid, inode), then the inode in the /proc index (pid, exe, cgroup).
// A flow whose local end is not one of the tunnel's own addresses was forwarded (router mode):
// it is attributed to its LAN source address. Anything else is unknown, never guessed.
#pragma once
#include <memory>
#include <vector>

#include "apps/app_rules.hpp"
#include "apps/proc_index.hpp"
#include "apps/sock_diag.hpp"
#include "packet/flow_key.hpp"

namespace ptun::apps {

struct AttributorStats {
  uint64_t lookups = 0, no_socket = 0, no_process = 0, forwarded = 0, errors = 0;
};

class Attributor {
 public:
  // diag may be null (sock_diag unavailable): every local flow is then unknown.
  Attributor(std::unique_ptr<SockDiag> diag, std::unique_ptr<ProcIndex> procs);
  // `key` as sent by the flow's opener; `opened_locally`: the opener is this host (the flow's
  // first packet came from the TUN). `local_addrs`: the tunnel's own addresses (none: unknown).
  Identity attribute(const packet::FlowKey& key, bool opened_locally, const std::vector<IpAddr>& local_addrs,
                     uint64_t now_ms);
  const AttributorStats& stats() const { return stats_; }
  const ProcIndexStats& proc_stats() const { return procs_->stats(); }

 private:
  std::unique_ptr<SockDiag> diag_;
  std::unique_ptr<ProcIndex> procs_;
  AttributorStats stats_;
};

}  // namespace ptun::apps
