// The server's DNS proxy, sans-I/O part: it answers the DNS the server pushes (its own tunnel
// addresses) by forwarding to the server's own resolvers. dns_proxy.hpp runs it on the loop.
//
// - Only clients inside the tunnel pools are served (the I/O side also binds to the tunnel
//   device): the server must never become an open resolver.
// - Every upstream attempt carries a fresh random id (and leaves from a fresh random port, I/O
//   side); an answer is taken only from the upstream the attempt went to, with that id and the
//   same question (name, type, class). Anything else is dropped and counted.
// - Queries in flight are bounded in total and per client; an attempt that gets no answer within
//   attempt_timeout_ms is retried on the next upstream (rotation, skipping upstreams that keep
//   timing out) until max_attempts, then dropped (the client's resolver retries on its own).
// - Clients over TCP (after a truncated UDP answer) are bounded in total and per client; their
//   length-prefixed stream is split by TcpFramer; their queries go upstream over TCP too.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/net_addr.hpp"

namespace ptun::server {

struct DnsProxyLimits {
  size_t max_pending = 1024;         // queries in flight (each holds one upstream socket)
  size_t max_pending_per_client = 64;
  size_t max_tcp_clients = 128;      // client TCP connections open at once
  size_t max_tcp_per_client = 8;
  uint64_t attempt_timeout_ms = 2000;
  uint32_t max_attempts = 3;         // upstreams tried per query (fewer when fewer are configured)
  uint32_t down_after = 3;           // consecutive timeouts that make an upstream skipped...
  uint64_t down_ms = 30000;          // ...for this long (then it gets a query again)
};

struct DnsProxyStats {
  uint64_t queries_udp = 0, queries_tcp = 0, answers = 0;
  uint64_t dropped_not_pool = 0;        // query (or TCP connection) from outside the pools
  uint64_t dropped_malformed = 0;       // not a query ptun can forward (dns_message.hpp)
  uint64_t dropped_full = 0;            // max_pending reached
  uint64_t dropped_client_limit = 0;    // max_pending_per_client reached
  uint64_t dropped_no_upstream = 0;     // no resolver configured or found
  uint64_t answer_unknown = 0;          // answer for nothing pending, or from another address
  uint64_t answer_mismatch = 0;         // wrong id or question: the query keeps waiting
  uint64_t answer_malformed = 0;
  uint64_t retries = 0;                 // attempts moved to the next upstream
  uint64_t timeouts = 0;                // queries given up after max_attempts
  uint64_t send_failed = 0;             // the upstream socket could not be opened/sent
  uint64_t tcp_refused = 0;             // TCP connection over max_tcp_clients/max_tcp_per_client
  uint64_t tcp_bad_frame = 0;           // TCP frame too large for a query
};

class DnsProxyCore {
 public:
  DnsProxyCore(std::vector<Cidr> pools, std::vector<IpAddr> upstreams, DnsProxyLimits limits,
               std::function<uint32_t()> rand);

  // Reload: later attempts use the new list (health forgotten); attempts in flight finish.
  void set_upstreams(std::vector<IpAddr> upstreams);
  const std::vector<IpAddr>& upstreams() const { return upstreams_; }
  bool from_pool(const IpAddr& a) const;

  struct Send {
    uint32_t key;       // names the query in on_reply/cancel; never 0
    Endpoint upstream;  // where to send it (port 53)
  };
  // A query from `client` (UDP: `conn` = 0; TCP: the connection's id): rewrites its id in place
  // (random) and says where to send it, or nullopt to drop it (counted). Call expire() first.
  std::optional<Send> on_query(std::span<uint8_t> msg, const Endpoint& client, uint64_t conn, uint64_t now_ms);

  struct Reply {
    Endpoint client;
    uint64_t conn;      // 0: answer over UDP to `client`
  };
  // An answer on query `key`'s socket: restores the client's id in place and says where it
  // goes (the query is then done), or nullopt (counted; the query keeps waiting).
  std::optional<Reply> on_reply(std::span<uint8_t> msg, uint32_t key, const Endpoint& from, uint64_t now_ms);

  // The query could not be sent, or its TCP client left: forget it.
  void cancel(uint32_t key);
  // A TCP client left: forgets its queries, appending their keys.
  void cancel_conn(uint64_t conn, std::vector<uint32_t>* keys);

  struct Retry {
    uint32_t key;
    Endpoint upstream;
    std::span<const uint8_t> msg;  // the query with its new id; valid until the next call
  };
  // The upstream of query `key` refused it (ICMP port unreachable, TCP reset): its attempt is
  // due now, so the next expire() moves it on at once.
  void refused(uint32_t key, uint64_t now_ms);
  // Attempts whose deadline passed: either retried on another upstream (*retries) or, after
  // max_attempts, given up (*gone).
  void expire(uint64_t now_ms, std::vector<Retry>* retries, std::vector<uint32_t>* gone);
  uint64_t next_deadline() const;  // UINT64_MAX when nothing is pending

  // TCP clients: admission (from a pool, under the bounds) and release when closed.
  bool tcp_admit(const IpAddr& client);
  void tcp_release(const IpAddr& client);
  // A TCP client sent a frame TcpFramer refused (the I/O side closes the connection).
  void tcp_bad_frame() { ++stats_.tcp_bad_frame; }

  const DnsProxyStats& stats() const { return stats_; }
  size_t pending() const { return pending_.size(); }
  // Consecutive timeouts of upstream i (tests, status).
  uint32_t upstream_failures(size_t i) const { return i < fails_.size() ? fails_[i] : 0; }

 private:
  struct Pending {
    Endpoint client;
    uint64_t conn;
    uint16_t client_id, upstream_id;
    Endpoint upstream;
    uint64_t deadline;
    uint32_t attempts;
    std::string name;
    uint16_t qtype, qclass;
    std::vector<uint8_t> msg;  // kept for a retry
  };
  // The upstream index to use after `prev` (SIZE_MAX: the first attempt), or SIZE_MAX if none.
  size_t pick(size_t prev, uint64_t now_ms);
  size_t index_of(const Endpoint& upstream) const;
  void forget(std::unordered_map<uint32_t, Pending>::iterator it);

  std::vector<Cidr> pools_;
  std::vector<IpAddr> upstreams_;
  std::vector<uint32_t> fails_;
  std::vector<uint64_t> down_until_;
  DnsProxyLimits limits_;
  std::function<uint32_t()> rand_;
  std::unordered_map<uint32_t, Pending> pending_;
  std::unordered_map<IpAddr, size_t, IpAddrHash> per_client_, tcp_per_client_;
  size_t tcp_clients_ = 0;
  uint32_t next_key_ = 0;
  size_t rr_ = 0;
  DnsProxyStats stats_;
};

// RFC 1035 4.2.2 framing of a client's TCP stream: each message is preceded by its length (2
// bytes, big endian). Messages above max_msg are an error (the connection is closed).
class TcpFramer {
 public:
  explicit TcpFramer(size_t max_msg) : max_(max_msg) {}
  // Appends received bytes. False: a frame announced a length over max_msg (or 0).
  bool feed(std::span<const uint8_t> bytes);
  // The next complete message, moved out; nullopt when none is complete yet.
  std::optional<std::vector<uint8_t>> next();

 private:
  size_t max_;
  std::vector<uint8_t> buf_;
};

// The 2-byte length prefix + message, for writing to a TCP stream (msg at most 65535 bytes).
std::vector<uint8_t> tcp_frame(std::span<const uint8_t> msg);

// The nameservers of resolv.conf text usable as upstreams: `skip` (the server's own tunnel
// addresses: the proxy must not forward to itself) removed, duplicates removed, order kept.
std::vector<IpAddr> resolv_conf_upstreams(std::string_view text, const std::vector<IpAddr>& skip);

}  // namespace ptun::server
