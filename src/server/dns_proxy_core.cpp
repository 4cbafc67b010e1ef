#include "server/dns_proxy_core.hpp"

#include <algorithm>

#include "netcfg/dns_message.hpp"
#include "ondemand/rules.hpp"

namespace ptun::server {

namespace {
constexpr uint16_t kDnsPort = 53;
}

DnsProxyCore::DnsProxyCore(std::vector<Cidr> pools, std::vector<IpAddr> upstreams, DnsProxyLimits limits,
                           std::function<uint32_t()> rand)
    : pools_(std::move(pools)), limits_(limits), rand_(std::move(rand)) {
  set_upstreams(std::move(upstreams));
}

void DnsProxyCore::set_upstreams(std::vector<IpAddr> upstreams) {
  upstreams_ = std::move(upstreams);
  fails_.assign(upstreams_.size(), 0);
  down_until_.assign(upstreams_.size(), 0);
  rr_ = 0;
}

bool DnsProxyCore::from_pool(const IpAddr& a) const {
  for (const auto& p : pools_)
    if (p.contains(a)) return true;
  return false;
}

size_t DnsProxyCore::index_of(const Endpoint& upstream) const {
  for (size_t i = 0; i < upstreams_.size(); ++i)
    if (upstreams_[i] == upstream.addr) return i;
  return SIZE_MAX;
}

// First attempts rotate over the upstreams (spreading load); a retry takes the one after the
// upstream that timed out. Either way an upstream that keeps timing out is skipped for down_ms
// (then it gets a query again and is back once it answers); when all are down, plain rotation.
size_t DnsProxyCore::pick(size_t prev, uint64_t now_ms) {
  const size_t n = upstreams_.size();
  if (n == 0) return SIZE_MAX;
  size_t start = prev == SIZE_MAX ? rr_++ % n : (prev + 1) % n;
  for (size_t k = 0; k < n; ++k) {
    size_t i = (start + k) % n;
    if (prev != SIZE_MAX && n > 1 && i == prev) continue;
    if (fails_[i] < limits_.down_after || now_ms >= down_until_[i]) return i;
  }
  return start;
}

std::optional<DnsProxyCore::Send> DnsProxyCore::on_query(std::span<uint8_t> msg, const Endpoint& client,
                                                         uint64_t conn, uint64_t now_ms) {
  ++(conn ? stats_.queries_tcp : stats_.queries_udp);
  if (!from_pool(client.addr)) {
    ++stats_.dropped_not_pool;
    return std::nullopt;
  }
  auto q = netcfg::parse_dns_query(msg);
  if (!q) {
    ++stats_.dropped_malformed;
    return std::nullopt;
  }
  if (pending_.size() >= limits_.max_pending) {
    ++stats_.dropped_full;
    return std::nullopt;
  }
  size_t& mine = per_client_[client.addr];
  if (mine >= limits_.max_pending_per_client) {
    ++stats_.dropped_client_limit;
    return std::nullopt;
  }
  size_t up = pick(SIZE_MAX, now_ms);
  if (up == SIZE_MAX) {
    ++stats_.dropped_no_upstream;
    if (mine == 0) per_client_.erase(client.addr);
    return std::nullopt;
  }
  do {
    ++next_key_;
  } while (next_key_ == 0 || pending_.count(next_key_));
  uint16_t id = uint16_t(rand_());
  netcfg::set_dns_id(msg, id);
  Endpoint upstream{upstreams_[up], kDnsPort};
  ++mine;
  pending_[next_key_] = Pending{client,   conn,    q->id,       id,       upstream,
                                now_ms + limits_.attempt_timeout_ms, 1, std::move(q->name), q->qtype,
                                q->qclass, std::vector<uint8_t>(msg.begin(), msg.end())};
  return Send{next_key_, upstream};
}

void DnsProxyCore::forget(std::unordered_map<uint32_t, Pending>::iterator it) {
  auto pc = per_client_.find(it->second.client.addr);
  if (pc != per_client_.end() && --pc->second == 0) per_client_.erase(pc);
  pending_.erase(it);
}

std::optional<DnsProxyCore::Reply> DnsProxyCore::on_reply(std::span<uint8_t> msg, uint32_t key,
                                                          const Endpoint& from, uint64_t now_ms) {
  auto it = pending_.find(key);
  if (it == pending_.end() || !(it->second.upstream == from) || it->second.deadline <= now_ms) {
    ++stats_.answer_unknown;
    return std::nullopt;
  }
  auto a = netcfg::parse_dns_response(msg);
  if (!a) {
    ++stats_.answer_malformed;
    return std::nullopt;
  }
  const Pending& p = it->second;
  if (a->id != p.upstream_id || a->name != p.name || a->qtype != p.qtype || a->qclass != p.qclass) {
    ++stats_.answer_mismatch;
    return std::nullopt;
  }
  Reply r{p.client, p.conn};
  netcfg::set_dns_id(msg, p.client_id);
  if (size_t i = index_of(p.upstream); i != SIZE_MAX) fails_[i] = 0;
  forget(it);
  ++stats_.answers;
  return r;
}

void DnsProxyCore::cancel(uint32_t key) {
  auto it = pending_.find(key);
  if (it == pending_.end()) return;
  ++stats_.send_failed;
  forget(it);
}

void DnsProxyCore::cancel_conn(uint64_t conn, std::vector<uint32_t>* keys) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto next = std::next(it);
    if (conn != 0 && it->second.conn == conn) {
      keys->push_back(it->first);
      forget(it);
    }
    it = next;
  }
}

void DnsProxyCore::expire(uint64_t now_ms, std::vector<Retry>* retries, std::vector<uint32_t>* gone) {
  const uint32_t max_attempts = std::max<uint32_t>(1, limits_.max_attempts);
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto next = std::next(it);
    Pending& p = it->second;
    if (p.deadline <= now_ms) {
      size_t prev = index_of(p.upstream);
      if (prev != SIZE_MAX && fails_[prev] < UINT32_MAX && ++fails_[prev] >= limits_.down_after)
        down_until_[prev] = now_ms + limits_.down_ms;
      size_t up = p.attempts < max_attempts ? pick(prev, now_ms) : SIZE_MAX;
      if (up == SIZE_MAX) {
        ++stats_.timeouts;
        gone->push_back(it->first);
        forget(it);
      } else {
        ++stats_.retries;
        ++p.attempts;
        p.upstream = Endpoint{upstreams_[up], kDnsPort};
        p.upstream_id = uint16_t(rand_());
        netcfg::set_dns_id(p.msg, p.upstream_id);
        p.deadline = now_ms + limits_.attempt_timeout_ms;
        retries->push_back(Retry{it->first, p.upstream, p.msg});
      }
    }
    it = next;
  }
}

void DnsProxyCore::refused(uint32_t key, uint64_t now_ms) {
  auto it = pending_.find(key);
  if (it != pending_.end()) it->second.deadline = std::min(it->second.deadline, now_ms);
}

uint64_t DnsProxyCore::next_deadline() const {
  uint64_t d = UINT64_MAX;
  for (const auto& [key, p] : pending_) d = std::min(d, p.deadline);
  return d;
}

bool DnsProxyCore::tcp_admit(const IpAddr& client) {
  if (!from_pool(client)) {
    ++stats_.dropped_not_pool;
    return false;
  }
  auto it = tcp_per_client_.find(client);
  size_t mine = it == tcp_per_client_.end() ? 0 : it->second;
  if (tcp_clients_ >= limits_.max_tcp_clients || mine >= limits_.max_tcp_per_client) {
    ++stats_.tcp_refused;
    return false;
  }
  ++tcp_clients_;
  ++tcp_per_client_[client];
  return true;
}

void DnsProxyCore::tcp_release(const IpAddr& client) {
  auto it = tcp_per_client_.find(client);
  if (it == tcp_per_client_.end()) return;
  --tcp_clients_;
  if (--it->second == 0) tcp_per_client_.erase(it);
}

bool TcpFramer::feed(std::span<const uint8_t> bytes) {
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
  // Every length prefix already received is checked, so the buffer never holds more than the
  // complete frames the caller is about to take plus one partial frame of at most max_.
  for (size_t pos = 0; pos + 2 <= buf_.size();) {
    size_t len = size_t(buf_[pos]) << 8 | buf_[pos + 1];
    if (len == 0 || len > max_) return false;
    pos += 2 + len;
  }
  return true;
}

std::optional<std::vector<uint8_t>> TcpFramer::next() {
  if (buf_.size() < 2) return std::nullopt;
  size_t len = size_t(buf_[0]) << 8 | buf_[1];
  if (len == 0 || len > max_ || buf_.size() < 2 + len) return std::nullopt;
  std::vector<uint8_t> msg(buf_.begin() + 2, buf_.begin() + 2 + std::ptrdiff_t(len));
  buf_.erase(buf_.begin(), buf_.begin() + 2 + std::ptrdiff_t(len));
  return msg;
}

std::vector<uint8_t> tcp_frame(std::span<const uint8_t> msg) {
  std::vector<uint8_t> out;
  out.reserve(msg.size() + 2);
  out.push_back(uint8_t(msg.size() >> 8));
  out.push_back(uint8_t(msg.size()));
  out.insert(out.end(), msg.begin(), msg.end());
  return out;
}

std::vector<IpAddr> resolv_conf_upstreams(std::string_view text, const std::vector<IpAddr>& skip) {
  std::vector<IpAddr> servers, out;
  std::vector<std::string> search;
  ondemand::parse_resolv_conf(text, &servers, &search);
  for (const auto& s : servers) {
    if (std::find(skip.begin(), skip.end(), s) != skip.end()) continue;
    if (std::find(out.begin(), out.end(), s) != out.end()) continue;
    out.push_back(s);
  }
  return out;
}

}  // namespace ptun::server
