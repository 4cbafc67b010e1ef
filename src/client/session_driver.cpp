#include "client/session_driver.hpp"

#include <algorithm>

#include "client/lifecycle.hpp"

namespace ptun::client {

SessionDriver::SessionDriver(std::vector<config::ServerAddress> servers)
    : servers_(std::move(servers)), list_(servers_.size()), resolved_(servers_.size()) {
  if (servers_.empty()) servers_.push_back({});   // never indexed out of range
}

std::optional<Endpoint> SessionDriver::begin(std::optional<uint64_t> old_rtt_ms) {
  if (old_rtt_ms) last_rtt_ms_ = *old_rtt_ms;
  up_ = false;
  reconnect_at_ = UINT64_MAX;
  holding_ = false;
  ++gen_;   // a lookup for an earlier attempt: its answer is not wanted any more
  resolving_ = false;
  const config::ServerAddress& srv = current();
  if (auto a = IpAddr::parse(srv.host)) {
    addresses_ = {Endpoint{*a, srv.port}};
    list_.set_addresses(1);
    return addresses_[0];
  }
  resolving_ = true;
  return std::nullopt;
}

SessionDriver::Resolved SessionDriver::on_resolved(uint64_t gen, const Result<std::vector<Endpoint>>& r) {
  Resolved out;
  if (!wants(gen)) return out;   // superseded: a newer attempt, `ptun down`, a reload
  resolving_ = false;
  std::optional<Endpoint>& known = resolved_[list_.current()];
  if (r && !r->empty()) {
    // Every address, in getaddrinfo's order (RFC 6724), each tried before the next server.
    addresses_ = *r;
    out.changed = !known || !(*known == addresses_[0]);
    known = addresses_[0];
  } else if (known) {
    // The name worked before: its last address beats no attempt at all (the DNS server may be
    // down, or only reachable through the tunnel, or blocked by the kill switch).
    addresses_ = {*known};
    out.from_cache = true;
    out.error = r ? "no address" : r.error().message;
  } else {
    addresses_.clear();
    list_.set_addresses(0);
    out.kind = Resolved::failed;
    out.error = r ? current().host + ": no address" : r.error().message;
    return out;
  }
  list_.set_addresses(addresses_.size());
  out.kind = Resolved::connect;
  out.endpoint = addresses_[0];
  out.count = addresses_.size();
  return out;
}

SessionDriver::Next SessionDriver::failed(const std::string& why, bool refused, const Endpoint& at, uint64_t now,
                                          double rand01, uint64_t cap_ms) {
  error_ = current().str() + (addresses_.size() > 1 ? " at " + at.str() : "") + ": " + why;
  ServerList::Step step = list_.on_failure(refused);
  Next n;
  if (step.next_address) {
    ++reconnects_;
    n.kind = Next::next_address;
    n.endpoint = addresses_[list_.address()];
    return n;
  }
  if (step.all_refused) {
    n.kind = Next::give_up;
    return n;
  }
  n.server = step.next;
  if (step.wrapped) n.delay_ms = backoff_ms(attempt_++, cap_ms, rand01);   // else the next server at once
  reconnect_at_ = now + n.delay_ms;
  ++reconnects_;
  return n;
}

void SessionDriver::established() {
  error_.clear();
  up_ = true;
  attempt_ = 0;
  list_.on_established();   // a lost session comes back to this server first
}

SessionDriver::End SessionDriver::ended(Why why, bool was_connected, uint64_t now, double rand01,
                                        uint64_t cap_ms) {
  holding_ = false;
  if (!up_) return End::attempt_failed;
  up_ = false;
  if (why == Why::refused) return End::refused_in_session;
  if (was_connected) attempt_ = 0;
  list_.restart();
  ++reconnects_;
  if (why == Why::replaced) {
    const uint64_t hold = kReplacedHoldMs << std::min<uint32_t>(replaced_, 8);
    ++replaced_;
    holding_ = true;
    reconnect_at_ = now + std::min(hold, std::max(cap_ms, kReplacedHoldMs));
    return End::replaced;
  }
  replaced_ = 0;
  reconnect_at_ = now + backoff_ms(attempt_++, cap_ms, rand01);
  return End::reconnect;
}

void SessionDriver::hurry(uint64_t now) {
  if (holding_) return;   // a new network does not make the other device go away
  attempt_ = 0;
  list_.restart();
  reconnect_at_ = now;
}

void SessionDriver::stop() {
  reconnect_at_ = UINT64_MAX;
  holding_ = false;
  resolving_ = false;
  up_ = false;
}

void SessionDriver::reload(std::vector<config::ServerAddress> servers) {
  if (servers != servers_ && !servers.empty()) {
    servers_ = std::move(servers);
    list_.reset(servers_.size());
    resolved_.assign(servers_.size(), std::nullopt);
  } else {
    list_.restart();
  }
}

uint32_t SessionDriver::handshake_timeout_ms(bool reasserting) const {
  uint32_t t = list_.handshake_timeout_ms();
  // With other servers to go to, 1.5 s (room for one DTLS retransmission): a killed server of a
  // cluster costs 1.5 s, not 2.5, before the next one is tried (docs/cluster.md, failover).
  const uint64_t base_ms = servers_.size() > 1 ? 1500 : 2500;
  if (reasserting) t = uint32_t(std::min<uint64_t>(t, base_ms + 4 * last_rtt_ms_));
  return t;
}

}  // namespace ptun::client
