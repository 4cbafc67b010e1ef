#include "apps/attributor.hpp"

#include <algorithm>

namespace ptun::apps {

Attributor::Attributor(std::unique_ptr<SockDiag> diag, std::unique_ptr<ProcIndex> procs)
    : diag_(std::move(diag)), procs_(std::move(procs)) {}

Identity Attributor::attribute(const packet::FlowKey& key, bool opened_locally,
                               const std::vector<IpAddr>& local_addrs, uint64_t now_ms) {
  Identity id;
  if (local_addrs.empty()) return id;   // no tunnel addresses yet (or userspace mode): cannot tell
  const IpAddr& local = opened_locally ? key.src : key.dst;
  const IpAddr& remote = opened_locally ? key.dst : key.src;
  uint16_t lport = opened_locally ? key.sport : key.dport, rport = opened_locally ? key.dport : key.sport;
  if (std::find(local_addrs.begin(), local_addrs.end(), local) == local_addrs.end()) {
    if (opened_locally) {   // from the TUN but not from us: a LAN host routed through this one
      ++stats_.forwarded;
      id.kind = Identity::Kind::lan;
      id.lan = key.src;
    }
    return id;
  }
  if (!diag_ || (key.proto != 6 && key.proto != 17)) return id;   // ICMP & co: no socket to ask
  ++stats_.lookups;
  auto owner = diag_->lookup(key.proto, local, lport, remote, rport);
  if (!owner) {
    ++(owner.error().code == Errc::not_found ? stats_.no_socket : stats_.errors);
    return id;
  }
  id.uid = owner->uid;
  auto proc = owner->inode ? procs_->find(owner->inode, owner->uid, now_ms) : std::nullopt;
  if (!proc) {
    ++stats_.no_process;   // the owner is gone, or the walk was rate-limited: uid only
    return id;
  }
  id.kind = Identity::Kind::process;
  id.exe = proc->exe;
  id.cgroup = proc->cgroup;
  return id;
}

}  // namespace ptun::apps
