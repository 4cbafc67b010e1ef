// Interned flow owners with per-app totals. Flows carry a small id (flow::Flow::owner) instead
// of strings; status and metrics read the totals here. Bounded: past kMaxApps distinct owners,
// new ones are counted under "unknown" (id 1) rather than growing without limit.
#pragma once
#include <cstdint>
#include <map>
#include <vector>

#include "apps/app_rules.hpp"

namespace ptun::apps {

struct AppTotals {
  uint64_t bytes[2] = {0, 0}, packets[2] = {0, 0};   // indexed by flow::Dir (out, in)
  uint64_t flows = 0, dropped = 0;
};

class AppRegistry {
 public:
  static constexpr uint32_t kNotAttributed = 0, kUnknown = 1;
  static constexpr size_t kMaxApps = 4096;
  AppRegistry();
  uint32_t intern(const Identity& id);
  const Identity& identity(uint32_t id) const { return apps_[id < apps_.size() ? id : kUnknown].id; }
  AppTotals& totals(uint32_t id) { return apps_[id < apps_.size() ? id : kUnknown].totals; }
  const AppTotals& totals(uint32_t id) const { return apps_[id < apps_.size() ? id : kUnknown].totals; }
  uint32_t size() const { return uint32_t(apps_.size()); }

 private:
  struct Entry {
    Identity id;
    AppTotals totals;
  };
  std::vector<Entry> apps_;
  std::map<std::tuple<uint8_t, uint32_t, std::string, std::string, IpAddr>, uint32_t> index_;
};

}  // namespace ptun::apps
