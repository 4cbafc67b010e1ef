// The packets `ptun doctor` sends itself (cmd_doctor.cpp gathers, netcfg/doctor.hpp judges):
// DF echo requests through the TUN, and one DNS query to a resolver. Each is bounded in time.
// And the server-side gathering (doctor_server.cpp).
#pragma once
#include <cstdint>
#include <string>

#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "config/config.hpp"
#include "netcfg/doctor.hpp"
#include "netcfg/server_doctor.hpp"

namespace ptun::cli {

// One ICMP (or ICMPv6, by dst's family) echo of `size` bytes, IP header included, that must not
// be fragmented, out of `ifname` to `dst`; true if its reply came back within `wait_ms`. A raw
// socket (CAP_NET_RAW), as ping's. False also when the TUN itself refuses the size (EMSGSIZE).
Result<bool> df_ping(const std::string& ifname, const IpAddr& dst, uint32_t size, uint16_t seq, int wait_ms);

// One A query for `name` to `server`:53 over UDP, as an application's would leave (no mark, no
// bound device); the answer must carry the query's id and question.
netcfg::doctor::Facts::DnsAnswer ask_dns(const IpAddr& server, const std::string& name, int wait_ms);

// The facts of a server host (cli/doctor_server.cpp).
netcfg::doctor::ServerFacts gather_server(const config::ServerConfig& cfg);

}  // namespace ptun::cli
