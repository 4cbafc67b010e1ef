#include "server/peer_table.hpp"

namespace ptun::server {

void PeerTable::configure(const std::vector<config::PeerConfig>& peers) {
  configured_.clear();
  for (const auto& p : peers) configured_[p.name] = &p;
}

const config::PeerConfig* PeerTable::configured(const std::string& name) const {
  auto it = configured_.find(name);
  return it == configured_.end() ? nullptr : it->second;
}

Result<Lease> PeerTable::lease(const std::string& peer, int64_t now_s) {
  return pool_.acquire(peer, now_s, [this](const std::string& p) { return session_by_peer_.count(p) != 0; });
}

std::vector<std::string> PeerTable::expire(int64_t now_s) {
  return pool_.expire(now_s, [this](const std::string& p) { return session_by_peer_.count(p) != 0; });
}

void PeerTable::add(uint64_t session, Peer p) {
  std::vector<IpAddr> hosts;
  if (p.lease.ipv4) hosts.push_back(*p.lease.ipv4);
  if (p.lease.ipv6) hosts.push_back(*p.lease.ipv6);
  routes_.add(session, hosts, p.routes_behind);
  session_by_peer_[p.name] = session;
  peers_[session] = std::move(p);
}

void PeerTable::set_endpoint(uint64_t session, const Endpoint& e) {
  if (auto it = peers_.find(session); it != peers_.end()) it->second.endpoint = e;
}

std::optional<Peer> PeerTable::remove(uint64_t session, int64_t now_s) {
  auto it = peers_.find(session);
  if (it == peers_.end()) return std::nullopt;
  routes_.remove(session);   // what a newer session of the peer took over stays its own
  pool_.touch(it->second.name, now_s);
  auto bp = session_by_peer_.find(it->second.name);
  if (bp != session_by_peer_.end() && bp->second == session) session_by_peer_.erase(bp);
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
