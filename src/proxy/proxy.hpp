// The userspace client's front door: SOCKS5 (CONNECT, UDP ASSOCIATE; no-auth or username/
// password) and HTTP CONNECT on loopback listeners, and static port forwards (TCP and UDP), all
// carried into the tunnel through the lwIP stack (netstack::TcpConn / UdpConn).
//
//   app --TCP--> HostTcp --handshake (socks_codec)--> resolve (DNS via the tunnel) --> Reach?
//       --> TcpConn::connect --> relay: read host -> write_all lwIP ; lwIP read -> host write -> ack
//
// Bounds: at most max_conns client connections at once (further ones are closed at accept);
// a client that has not finished its handshake within handshake_timeout_ms is closed; lwIP's own
// connection cap answers "general failure" (SOCKS) / 503 (HTTP).
#pragma once
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/net_addr.hpp"
#include "common/rng.hpp"
#include "core/core.hpp"
#include "relay/host_socket.hpp"
#include "proxy/reach.hpp"
#include "proxy/socks_codec.hpp"

namespace ptun::netstack { class Netstack; class TcpConn; }

namespace ptun::proxy {

struct ForwardRule {
  Endpoint listen;   // on the host (loopback)
  Endpoint to;       // inside the tunnel
  bool udp = false;
};

struct ProxyOptions {
  std::vector<Endpoint> socks_listen, http_listen;
  std::string user, pass;          // both empty = no authentication
  std::vector<ForwardRule> forwards;
  uint32_t max_conns = 1024;
  uint64_t handshake_timeout_ms = 10000;
  uint64_t connect_timeout_ms = 10000;
  uint64_t udp_idle_ms = 60000;
};

struct ProxyStats {
  uint64_t accepted = 0, refused_cap = 0, handshake_timeouts = 0, bad_requests = 0,
           auth_failures = 0, not_allowed = 0, connect_failures = 0, relayed = 0,
           udp_foreign = 0;   // UDP ASSOCIATE datagrams from another address or port than the client's
};

class Proxy {
 public:
  Proxy(core::Loop& loop, netstack::Netstack& stack, ProxyOptions opts);
  ~Proxy();
  // Binds every listener (errors are startup errors: address in use, not permitted...).
  Result<void> open();
  // What the tunnel may reach and which DNS servers resolve names (from the pushed settings).
  void set_tunnel(Reach reach, std::vector<IpAddr> dns_servers);
  // Accepts and serves until stop; then closes everything and joins every connection.
  core::Task<void> run(core::CancelToken stop);
  const ProxyStats& stats() const { return stats_; }
  size_t active() const { return active_; }
  // The bound address of the n-th SOCKS / HTTP listener (tests bind port 0).
  Endpoint socks_address(size_t n) const;

  // ---- the embedding API's way into the tunnel (proxy_embed.cpp) ----
  // `host` is a literal address or a DNS name (resolved through the tunnel's DNS servers); the
  // address must lie inside the tunnel's routes. Errors: Errc::not_found (no such name, no DNS
  // servers), Errc::timeout (DNS), Errc::invalid_argument (not a name), Errc::auth (not routed
  // through the tunnel), Errc::cancelled.
  core::Task<Result<IpAddr>> resolve_allowed(const std::string& host, core::CancelToken token);
  // resolve_allowed, then a TCP connection inside lwIP (as a SOCKS CONNECT would get). Further
  // errors: Errc::closed (refused), Errc::timeout (no answer), Errc::limit, Errc::unsupported.
  core::Task<Result<std::unique_ptr<netstack::TcpConn>>> open_stream(const std::string& host, uint16_t port,
                                                                      core::CancelToken token);

  // A connection's handshake deadline, swept once a second (public for the .cpp helpers).
  struct Guard {
    core::CancelSource cancel;
    uint64_t deadline;
    bool expired = false;
    Guard(const core::CancelToken& parent, uint64_t d) : cancel(parent), deadline(d) {}
  };

 private:
  enum class Kind { socks, http, forward };
  core::Task<void> run_accept(relay::HostTcp& listener, Kind kind, size_t forward_index, core::TaskScope& scope);
  core::Task<void> run_sweeper(core::CancelToken stop);
  core::Task<void> serve(std::unique_ptr<relay::HostTcp> client, Kind kind, size_t forward_index, core::CancelToken stop);
  core::Task<void> serve_socks(relay::HostTcp& client, Guard& g);
  core::Task<void> serve_http(relay::HostTcp& client, Guard& g);
  core::Task<void> serve_forward(relay::HostTcp& client, const ForwardRule& rule, Guard& g);
  core::Task<void> serve_udp_associate(relay::HostTcp& client, const Target& requested, Guard& g);
  core::Task<void> run_udp_forward(relay::HostUdp& sock, const ForwardRule& rule, core::CancelToken stop);
  // Reads more bytes into buf (at most `max` in all). Errc::limit past max, Errc::closed on EOF.
  core::Task<Result<void>> read_more(relay::HostTcp& c, std::vector<uint8_t>& buf, size_t max, core::CancelToken t);
  // DNS name -> address through the tunnel's DNS servers (literal addresses pass through).
  core::Task<Result<IpAddr>> resolve(const Target& t, core::CancelToken token);
  // Connects inside the tunnel, mapping failures to a SOCKS reply code in *code.
  core::Task<Result<std::unique_ptr<netstack::TcpConn>>> open_tunnel(const IpAddr& a, uint16_t port, uint8_t* code,
                                                                      core::CancelToken token);
  // Copies both ways until both sides closed (or either failed). `pending` = bytes the client
  // sent after its request, forwarded first.
  core::Task<void> relay(relay::HostTcp& host, netstack::TcpConn& conn, std::vector<uint8_t> pending, core::CancelToken token);

  core::Loop& loop_;
  netstack::Netstack& stack_;
  ProxyOptions opts_;
  SystemRng rng_;
  Reach reach_;
  std::vector<IpAddr> dns_;
  std::vector<std::unique_ptr<relay::HostTcp>> socks_, http_, tcp_forwards_;
  std::vector<size_t> tcp_forward_rules_;
  std::vector<std::pair<std::unique_ptr<relay::HostUdp>, size_t>> udp_forwards_;
  std::list<Guard*> guards_;
  size_t active_ = 0;
  ProxyStats stats_;
};

}  // namespace ptun::proxy
