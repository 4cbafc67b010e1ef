#include "server/peer_routes.hpp"

#include <algorithm>

namespace ptun::server {

void PeerRoutes::add(uint64_t session, const std::vector<IpAddr>& hosts, const std::vector<Cidr>& behind) {
  for (const auto& h : hosts) hosts_[h] = session;
  for (const auto& n : behind) {
    std::erase_if(behind_, [&](const Net& e) { return e.net == n; });
    behind_.push_back({n, session});
  }
  std::stable_sort(behind_.begin(), behind_.end(),
                   [](const Net& a, const Net& b) { return a.net.prefix > b.net.prefix; });
}

void PeerRoutes::remove(uint64_t session) {
  std::erase_if(hosts_, [&](const auto& kv) { return kv.second == session; });
  std::erase_if(behind_, [&](const Net& e) { return e.session == session; });
}

uint64_t PeerRoutes::lookup(const IpAddr& dst) const {
  if (auto it = hosts_.find(dst); it != hosts_.end()) return it->second;
  for (const auto& e : behind_) {
    if (e.net.contains(dst)) return e.session;
  }
  return 0;
}

uint64_t PeerRoutes::next_hop(uint64_t from, const IpAddr& dst, bool client_to_client) const {
  uint64_t to = lookup(dst);
  if (to == 0 || to == from) return 0;
  return client_to_client ? to : kRefused;
}

bool PeerRoutes::source_allowed(uint64_t session, const IpAddr& src) const {
  if (auto it = hosts_.find(src); it != hosts_.end()) return it->second == session;
  for (const auto& e : behind_) {
    if (e.net.contains(src)) return e.session == session;
  }
  return false;
}

}  // namespace ptun::server
