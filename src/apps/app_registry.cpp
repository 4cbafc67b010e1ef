#include "apps/app_registry.hpp"

namespace ptun::apps {

AppRegistry::AppRegistry() {
  apps_.resize(2);   // 0: not attributed (inbound before lookup, classification off), 1: unknown
}

uint32_t AppRegistry::intern(const Identity& id) {
  if (id.kind == Identity::Kind::unknown) return kUnknown;
  auto key = std::make_tuple(uint8_t(id.kind), id.uid, id.exe, id.cgroup, id.lan);
  auto it = index_.find(key);
  if (it != index_.end()) return it->second;
  if (apps_.size() >= kMaxApps) return kUnknown;
  uint32_t n = uint32_t(apps_.size());
  apps_.push_back(Entry{id, {}});
  index_.emplace(std::move(key), n);
  return n;
}

}  // namespace ptun::apps
