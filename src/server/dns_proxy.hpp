// The server's DNS proxy on the loop (decisions in dns_proxy_core.hpp): UDP and TCP listeners
// on the server's tunnel addresses, bound to the tunnel device (SO_BINDTODEVICE), so queries
// arriving on any other interface never reach it even when addressed to a tunnel address.
// Every upstream attempt gets a socket of its own: UDP connected from a fresh random port, or a
// TCP connection for queries that came over TCP. Nothing blocks: libuv polls every socket.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "server/dns_proxy_core.hpp"

namespace ptun::core { class Loop; }

namespace ptun::server {

class DnsProxy {
 public:
  struct Options {
    std::string device;            // the tunnel interface the listeners are bound to
    std::vector<IpAddr> listen;    // the server's tunnel addresses
    uint16_t port = 53;
  };
  // Binds UDP and TCP on every listen address (before the address may have finished DAD: the
  // sockets use IP_FREEBIND). Errc::io names the address that failed.
  static Result<std::unique_ptr<DnsProxy>> start(core::Loop& loop, const Options& opt, DnsProxyCore core);
  ~DnsProxy();

  void set_upstreams(std::vector<IpAddr> upstreams);
  const std::vector<IpAddr>& upstreams() const;
  const DnsProxyStats& stats() const;
  size_t pending() const;
  size_t tcp_clients() const;

  struct Impl;

 private:
  explicit DnsProxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ptun::server
