#include "server/peer_routes.hpp"

#include <algorithm>

namespace ptun::server {

PeerRoutes::Level& PeerRoutes::level(Family f, uint8_t prefix) {
  auto it = std::find_if(levels_.begin(), levels_.end(), [&](const Level& l) { return l.family == f && l.prefix == prefix; });
  if (it != levels_.end()) return *it;
  // kept sorted, longest first: the first match of a lookup is the longest
  auto at = std::find_if(levels_.begin(), levels_.end(), [&](const Level& l) { return l.prefix < prefix; });
  return *levels_.insert(at, Level{f, prefix, {}});
}

void PeerRoutes::add(uint64_t session, const std::vector<IpAddr>& hosts, const std::vector<Cidr>& behind) {
  Owned& own = owned_[session];
  for (const auto& h : hosts) {
    hosts_[h] = session;
    own.hosts.push_back(h);
  }
  for (const auto& n : behind) {
    const Cidr net = n.network();
    level(net.addr.family, net.prefix).nets[net.addr] = session;
    own.nets.push_back(net);
  }
}

void PeerRoutes::remove(uint64_t session) {
  auto o = owned_.find(session);
  if (o == owned_.end()) return;
  for (const auto& h : o->second.hosts)
    if (auto it = hosts_.find(h); it != hosts_.end() && it->second == session) hosts_.erase(it);
  for (const auto& n : o->second.nets) {
    Level& l = level(n.addr.family, n.prefix);
    if (auto it = l.nets.find(n.addr); it != l.nets.end() && it->second == session) l.nets.erase(it);
  }
  std::erase_if(levels_, [](const Level& l) { return l.nets.empty(); });
  owned_.erase(o);
}

uint64_t PeerRoutes::lookup(const IpAddr& dst) const {
  if (auto it = hosts_.find(dst); it != hosts_.end()) return it->second;
  for (const auto& l : levels_) {
    if (l.family != dst.family) continue;
    if (auto it = l.nets.find(Cidr{dst, l.prefix}.network().addr); it != l.nets.end()) return it->second;
  }
  return 0;
}

uint64_t PeerRoutes::next_hop(uint64_t from, const IpAddr& dst, bool client_to_client) const {
  uint64_t to = lookup(dst);
  if (to == 0 || to == from) return 0;
  return client_to_client ? to : kRefused;
}

size_t PeerRoutes::networks() const {
  size_t n = 0;
  for (const auto& l : levels_) n += l.nets.size();
  return n;
}

}  // namespace ptun::server
