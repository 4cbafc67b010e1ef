#include "netcfg/host_values.hpp"

namespace ptun::netcfg {

HostValues HostValues::from_config(const config::ClientConfig& cfg) {
  HostValues v;
  v.interface = cfg.tunnel.interface;
  v.fwmark = cfg.tunnel.fwmark;
  v.table = cfg.tunnel.table;
  v.server_tcp_port = cfg.tcp_port;
  v.state_dir = cfg.state_dir;
  v.routes = cfg.routes;
  v.dns = cfg.dns;
  v.protocol = cfg.protocol;
  return v;
}

Result<void> check_update(const HostValues& running, const HostValues& fresh) {
  auto refuse = [](const char* field) -> Result<void> {
    return Error(Errc::invalid_argument, std::string("the host side cannot change ") + field + " while running");
  };
  if (fresh.interface != running.interface) return refuse("the interface");
  if (fresh.fwmark != running.fwmark) return refuse("the fwmark");
  if (fresh.table != running.table) return refuse("the routing table");
  if (fresh.server_tcp_port != running.server_tcp_port) return refuse("the server's TCP port");
  if (fresh.state_dir != running.state_dir) return refuse("state_dir");
  if (!(fresh.protocol == running.protocol)) return refuse("[protocol]");
  return {};
}

}  // namespace ptun::netcfg
