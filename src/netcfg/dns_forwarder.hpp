// ptun's split-DNS forwarder (used when systemd-resolved does not run): listens on a loopback
// address (resolv.conf points there), sends queries for names under the match domains to the
// tunnel's resolvers and all others to the host's original resolvers, and relays the answers.
// UDP only (a truncated answer makes the querying resolver retry over TCP, which then fails: names with
// answers above 512/EDNS-size bytes are out of scope).
//
// Against off-path answer spoofing (issue 19) every upstream query leaves from its own socket, so
// from a fresh kernel-chosen (random) source port, with a random id; an answer is taken only from
// the upstream the query went to, on that socket, with that id and the same question (name, type,
// class). Anything else is dropped and counted, and the query keeps waiting for the real answer.
//
// ForwarderCore is the sans-I/O part (routing decision, id rewriting, question match, bounded
// pending table with deadlines); DnsForwarder runs it on the loop: a listening socket, one
// connected socket per query in flight (at most kMaxPending), a timer for expiry.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/net_addr.hpp"
#include "common/result.hpp"

namespace ptun::core { class Loop; }

namespace ptun::netcfg {

struct ForwarderStats {
  uint64_t queries = 0, to_tunnel = 0, to_original = 0, answers = 0, dropped_malformed = 0,
           dropped_full = 0, dropped_unknown = 0, expired = 0;
  uint64_t dropped_mismatch = 0;  // an answer on a query's socket whose id or question differs
};

class ForwarderCore {
 public:
  // Queries in flight, so also the bound on upstream sockets (one each).
  static constexpr size_t kMaxPending = 256;
  static constexpr uint64_t kTimeoutMs = 5000;
  ForwarderCore(std::vector<std::string> match_domains, std::vector<IpAddr> tunnel_servers,
                std::vector<IpAddr> original_servers, std::function<uint32_t()> rand);

  struct Forward {
    uint32_t key;       // names this query in on_reply/cancel; never 0
    Endpoint upstream;  // where to send it, from a socket of its own
  };
  // A query from a client: rewrites its id in place (random) and says where to send it, or
  // nullopt to drop it (malformed, table full, no upstream for it). Call expire() first.
  std::optional<Forward> on_query(std::span<uint8_t> msg, const Endpoint& client, uint64_t now_ms);
  // An answer that arrived on query `key`'s socket: restores the client's id in place and returns
  // the client (the query is then done), or nullopt: unknown key, too late, not from the upstream,
  // or a different id or question (the query keeps waiting).
  std::optional<Endpoint> on_reply(std::span<uint8_t> msg, uint32_t key, const Endpoint& from, uint64_t now_ms);
  // The query could not be sent: forget it.
  void cancel(uint32_t key);
  // Forgets queries whose deadline passed and appends their keys to *expired.
  void expire(uint64_t now_ms, std::vector<uint32_t>* expired);
  uint64_t next_deadline() const;  // UINT64_MAX when nothing is pending
  // Routing decision alone (tests): true = the tunnel's resolvers.
  bool to_tunnel(const std::string& name) const;
  const ForwarderStats& stats() const { return stats_; }
  size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    uint16_t client_id, upstream_id;
    Endpoint client, upstream;
    uint64_t deadline;
    std::string name;  // the question, as parse_dns_query gives it
    uint16_t qtype, qclass;
  };
  std::vector<std::string> match_;
  std::vector<IpAddr> tunnel_, original_;
  std::function<uint32_t()> rand_;
  std::unordered_map<uint32_t, Pending> pending_;
  uint32_t next_key_ = 0;
  uint32_t rr_ = 0;
  ForwarderStats stats_;
};

class DnsForwarder {
 public:
  // Binds `listen` (UDP). Errc::io if the address cannot be bound.
  static Result<std::unique_ptr<DnsForwarder>> start(core::Loop& loop, const Endpoint& listen,
                                                     ForwarderCore core);
  ~DnsForwarder();
  const ForwarderStats& stats() const;

  struct Impl;

 private:
  explicit DnsForwarder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ptun::netcfg
