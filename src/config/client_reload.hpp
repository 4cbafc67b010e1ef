// What a running client can take from a reloaded config, from one table of fields: each field
// that may change without a restart, and what its change takes (a new session, re-applied host
// settings, ...). Any other difference refuses the reload as a whole, so a running client never
// runs half of a config; a field added to ClientConfig later needs a restart until the table
// names it.
#pragma once
#include <string>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"

namespace ptun::config {

enum ReloadEffect : unsigned {
  reload_new_session = 1u << 0,     // servers or credentials: a new handshake
  reload_new_servers = 1u << 1,     // the server list itself: failover state starts over
  reload_host_settings = 1u << 2,   // routes, DNS, MTU: the settings are applied again
  reload_log_level = 1u << 3,
  reload_reconnect = 1u << 4,       // backoff bounds: read at the next reconnect
  reload_on_demand = 1u << 5,       // rules: evaluated again at once
};

struct ReloadPlan {
  unsigned effects = 0;
  std::vector<std::string> changed;   // names of the fields that changed, in table order
  bool has(ReloadEffect e) const { return (effects & e) != 0; }
  // The groups a reload reports back ("server/credentials", "routes/dns/mtu", ...).
  std::vector<std::string> groups() const;
};

// running -> fresh. An error names the fields that need a restart (and keeps nothing).
Result<ReloadPlan> plan_reload(const ClientConfig& running, const ClientConfig& fresh);

// The fields the table lets change, for messages and docs.
std::vector<std::string> reloadable_fields();

}  // namespace ptun::config
