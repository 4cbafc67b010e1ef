// What the client's host side needs from the config, as values: ClientHost and plan_host keep no
// reference into a ClientConfig (which a reload replaces). Built once by from_config(); a reload
// that changes [routes] or [dns] hands ClientHost new values (ClientHost::update), anything else
// here is fixed for the life of the host (the device, the marks, the journal's place).
#pragma once
#include <string>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"

namespace ptun::netcfg {

struct HostValues {
  std::string interface = "ptun0";   // the TUN (nftables, resolved, dnsmasq file name)
  uint32_t fwmark = 0x7074;          // the tunnel's own packets (bypass)
  uint32_t table = 7074;             // the policy-routing table of the tunnel's routes
  uint16_t server_tcp_port = 0;      // the TCP fallback's port, let through the kill switch (0: none)
  std::string state_dir;             // where the journal lives
  config::ClientConfig::Routes routes;       // local additions to the push
  config::ClientConfig::Dns dns;
  config::ClientConfig::Protocol protocol;   // kill switch, local networks, enforce, always_on
  bool operator==(const HostValues&) const = default;

  static HostValues from_config(const config::ClientConfig& cfg);
};

// Whether a running ClientHost built from `running` can take `fresh` (only routes and dns may
// differ); Errc::invalid_argument naming the first field that needs a new host otherwise.
Result<void> check_update(const HostValues& running, const HostValues& fresh);

}  // namespace ptun::netcfg
