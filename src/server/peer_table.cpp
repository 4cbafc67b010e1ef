#include "server/peer_table.hpp"

namespace ptun::server {

Result<Lease> PeerTable::lease(const std::string& peer, int64_t now_s) {
  return pool_.acquire(peer, now_s, [this](const std::string& p) { return session_by_peer_.count(p) != 0; });
}

std::vector<std::string> PeerTable::expire(int64_t now_s) {
  return pool_.expire(now_s, [this](const std::string& p) { return session_by_peer_.count(p) != 0; });
}

void PeerTable::register_routes(uint64_t session, const Peer& p) {
  std::vector<IpAddr> hosts;
  if (p.lease.ipv4) hosts.push_back(*p.lease.ipv4);
  if (p.lease.ipv6) hosts.push_back(*p.lease.ipv6);
  routes_.add(session, hosts, p.routes_behind);
}

void PeerTable::add(uint64_t session, Peer p) {
  register_routes(session, p);
  session_by_peer_[p.name] = session;
  peers_[session] = std::move(p);
}

void PeerTable::set_endpoint(uint64_t session, const Endpoint& e) {
  if (auto it = peers_.find(session); it != peers_.end()) it->second.endpoint = e;
}

std::optional<Peer> PeerTable::remove(uint64_t session, int64_t now_s) {
  auto it = peers_.find(session);
  if (it == peers_.end()) return std::nullopt;
  routes_.remove(session);
  pool_.touch(it->second.name, now_s);
  auto bp = session_by_peer_.find(it->second.name);
  if (bp != session_by_peer_.end() && bp->second == session) session_by_peer_.erase(bp);
  // A reconnecting peer may already own the addresses again: re-register its live session.
  if (auto live = session_by_peer_.find(it->second.name); live != session_by_peer_.end()) {
    if (auto lp = peers_.find(live->second); lp != peers_.end()) register_routes(live->second, lp->second);
  }
  Peer gone = std::move(it->second);
  peers_.erase(it);
  return gone;
}

const Peer* PeerTable::find(uint64_t session) const {
  auto it = peers_.find(session);
  return it == peers_.end() ? nullptr : &it->second;
}

std::optional<uint64_t> PeerTable::session_of(const std::string& peer) const {
  auto it = session_by_peer_.find(peer);
  if (it == session_by_peer_.end()) return std::nullopt;
  return it->second;
}

}  // namespace ptun::server
