// ptun's split-DNS forwarder (used when systemd-resolved does not run): listens on a loopback
// address (resolv.conf points there), sends queries for names under the match domains to the
// tunnel's resolvers and all others to the host's original resolvers, and relays the answers.
// UDP only (a truncated answer makes the querying resolver retry over TCP, which then fails: names with
// answers above 512/EDNS-size bytes are out of scope).
//
// ForwarderCore is the sans-I/O part (routing decision, id rewriting, bounded pending table);
// DnsForwarder runs it on the loop with two non-blocking sockets watched by uv_poll.
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
};

class ForwarderCore {
 public:
  static constexpr size_t kMaxPending = 1024;
  static constexpr uint64_t kTimeoutMs = 5000;
  ForwarderCore(std::vector<std::string> match_domains, std::vector<IpAddr> tunnel_servers,
                std::vector<IpAddr> original_servers, std::function<uint32_t()> rand);
  // A query from a client: rewrites its id in place and returns the upstream to send it to, or
  // nullopt to drop it (malformed, table full, no upstream for it).
  std::optional<Endpoint> on_query(std::span<uint8_t> msg, const Endpoint& client, uint64_t now_ms);
  // An answer from an upstream: restores the client's id in place and returns the client, or
  // nullopt (unknown id, or not from the server the query went to).
  std::optional<Endpoint> on_reply(std::span<uint8_t> msg, const Endpoint& from, uint64_t now_ms);
  // Routing decision alone (tests): true = the tunnel's resolvers.
  bool to_tunnel(const std::string& name) const;
  const ForwarderStats& stats() const { return stats_; }
  size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    uint16_t client_id;
    Endpoint client, upstream;
    uint64_t deadline;
  };
  void expire(uint64_t now_ms);
  std::vector<std::string> match_;
  std::vector<IpAddr> tunnel_, original_;
  std::function<uint32_t()> rand_;
  std::unordered_map<uint16_t, Pending> pending_;
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
