#include "cluster/etcd_client.hpp"

#include <algorithm>
#include <stdexcept>

#include "common/log.hpp"
#include "core/timer.hpp"

namespace ptun::cluster {

EtcdClient::EtcdClient(core::Loop& loop, EtcdOptions opts) : loop_(loop), http_(loop), opts_(std::move(opts)) {
  if (opts_.endpoints.empty()) throw std::invalid_argument("EtcdClient: no endpoints");
  for (auto& e : opts_.endpoints)
    while (!e.empty() && e.back() == '/') e.pop_back();
}

core::Task<Result<std::string>> EtcdClient::call(const char* path, std::string body) {
  ++stats_.calls;
  Error last(Errc::io, "no endpoint tried");
  const size_t n = opts_.endpoints.size();
  const uint64_t deadline = loop_.now_ms() + std::max<uint64_t>(opts_.timeout_ms, kElectionBudgetMs);
  for (;;) {
    // A member that answers 5xx is alive but has no leader to serve us (an election after the
    // leader died, or a member cut off from the quorum): go round again shortly, for up to
    // kElectionBudgetMs in all (an election takes 1-2 s with etcd's defaults), rather than fail
    // every call made meanwhile. A refused connection (the member is down) is no reason to wait:
    // with every member down the call fails at once.
    bool electing = false;
    for (size_t i = 0; i < n; ++i) {
      const size_t at = (current_ + i) % n;
      if (i > 0) ++stats_.failovers;
      ++stats_.attempts;
      const std::string url = opts_.endpoints[at] + path;
      auto r = co_await http_.post(url, body, opts_.tls, opts_.timeout_ms);
      if (!r) {
        if (r.error().code == Errc::closed) co_return r.error();  // shutting down
        // A member that holds the request without answering is often waiting for a leader too.
        electing = electing || r.error().code == Errc::timeout;
        last = Error(r.error().code, opts_.endpoints[at] + ": " + r.error().message);
        LOG_DEBUG("cluster: %s", last.message.c_str());
        continue;
      }
      if (r->status >= 500 || r->status == 0) {
        electing = electing || r->status >= 500;
        last = Error(Errc::io, opts_.endpoints[at] + ": HTTP " + std::to_string(r->status) + " " + r->body.substr(0, 200));
        LOG_DEBUG("cluster: %s", last.message.c_str());
        continue;
      }
      current_ = at;  // stay with the endpoint that answers
      co_return std::move(r->body);
    }
    if (!electing || loop_.now_ms() + kElectionRetryMs >= deadline) break;
    ++stats_.election_waits;
    if (auto slept = co_await core::sleep_for(loop_, kElectionRetryMs); !slept) break;
  }
  ++stats_.failed;
  co_return last;
}

template <typename T>
Result<T> EtcdClient::counted(Result<T> r) {
  if (!r && r.error().code == Errc::protocol) ++stats_.bad_answers;
  return r;
}

core::Task<Result<RangeResponse>> EtcdClient::range(RangeRequest q) {
  std::string body = encode_range(q);
  auto b = co_await call("/v3/kv/range", std::move(body));
  if (!b) co_return b.error();
  co_return counted(decode_range(*b));
}

core::Task<Result<TxnResponse>> EtcdClient::txn(TxnRequest t) {
  std::string body = encode_txn(t);
  auto b = co_await call("/v3/kv/txn", std::move(body));
  if (!b) co_return b.error();
  co_return counted(decode_txn(*b));
}

core::Task<Result<LeaseGrant>> EtcdClient::lease_grant(int64_t ttl_s) {
  std::string body = encode_lease_grant(ttl_s);
  auto b = co_await call("/v3/lease/grant", std::move(body));
  if (!b) co_return b.error();
  co_return counted(decode_lease_grant(*b));
}

core::Task<Result<LeaseGrant>> EtcdClient::lease_keepalive(int64_t id) {
  std::string body = encode_lease_keepalive(id);
  auto b = co_await call("/v3/lease/keepalive", std::move(body));
  if (!b) co_return b.error();
  co_return counted(decode_lease_keepalive(*b));
}

core::Task<Result<void>> EtcdClient::lease_revoke(int64_t id) {
  std::string body = encode_lease_revoke(id);
  auto b = co_await call("/v3/lease/revoke", std::move(body));
  if (!b) co_return b.error();
  co_return counted(decode_empty(*b));
}

core::Task<Result<void>> EtcdClient::probe(size_t endpoint) {
  if (endpoint >= opts_.endpoints.size()) co_return Error(Errc::invalid_argument, "no such endpoint");
  const std::string url = opts_.endpoints[endpoint] + "/v3/maintenance/status";
  auto r = co_await http_.post(url, "{}", opts_.tls, opts_.timeout_ms);
  if (!r) co_return Error(r.error().code, opts_.endpoints[endpoint] + ": " + r.error().message);
  if (r->status < 200 || r->status >= 300)
    co_return Error(Errc::io, opts_.endpoints[endpoint] + ": HTTP " + std::to_string(r->status));
  co_return ok();
}

}  // namespace ptun::cluster
