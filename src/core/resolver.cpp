#include "core/resolver.hpp"

#include <netdb.h>

#include <algorithm>

#include "core/op.hpp"

namespace ptun::core {

namespace {

struct ResolveWait;

// One uv_getaddrinfo request. Owned by the request itself: freed by its callback, which libuv
// always runs (with UV_EAI_CANCELED if uv_cancel caught it before a pool thread did), so an
// awaiter that gave up never leaves libuv holding freed memory.
struct Request {
  uv_getaddrinfo_t req;
  ResolveWait* waiter = nullptr;
  std::string host;
  uint16_t port = 0;
};

Result<std::vector<Endpoint>> to_endpoints(const Request& r, int status, const addrinfo* res) {
  if (status == UV_EAI_CANCELED) return cancelled_error();
  if (status != 0)
    return Error(Errc::not_found, "resolving " + r.host + ": " + uv_strerror(status));
  std::vector<Endpoint> out;
  for (const addrinfo* a = res; a && out.size() < kMaxResolvedAddresses; a = a->ai_next) {
    if (!a->ai_addr || (a->ai_family != AF_INET && a->ai_family != AF_INET6)) continue;
    Endpoint ep = Endpoint::from_sockaddr(a->ai_addr);
    ep.port = r.port;
    if (std::find(out.begin(), out.end(), ep) == out.end()) out.push_back(ep);
  }
  if (out.empty()) return Error(Errc::not_found, "resolving " + r.host + ": no IPv4 or IPv6 address");
  return out;
}

struct ResolveWait : Op<Result<std::vector<Endpoint>>> {
  std::string host;
  uint16_t port;
  CancelToken token;
  int family;
  Request* rq = nullptr;   // while submitted and not given up

  ResolveWait(Loop& l, std::string h, uint16_t p, CancelToken t, int f)
      : Op(l), host(std::move(h)), port(p), token(std::move(t)), family(f) {}
  ~ResolveWait() { detach(); }

  bool await_ready() {
    if (token.cancelled()) {
      result.emplace(cancelled_error());
      return true;
    }
    return false;
  }
  bool await_suspend(std::coroutine_handle<> h) {
    node.h = h;
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_DGRAM;
    rq = new Request;
    rq->host = std::move(host);
    rq->port = port;
    rq->req.data = rq;
    rq->waiter = this;
    int rc = uv_getaddrinfo(loop.raw(), &rq->req, on_done, rq->host.c_str(), nullptr, &hints);
    if (rc != 0) {
      // Never queued: no callback will come; the request is ours to free.
      result.emplace(Error(Errc::not_found, "resolving " + rq->host + ": " + uv_strerror(rc)));
      delete std::exchange(rq, nullptr);
      return false;
    }
    (void)reg.arm(token, [](void* p) { static_cast<ResolveWait*>(p)->on_cancel(); }, this);
    return true;
  }
  Result<std::vector<Endpoint>> await_resume() { return take(); }

  static void on_done(uv_getaddrinfo_t* req, int status, addrinfo* res) {
    auto* r = static_cast<Request*>(req->data);
    if (ResolveWait* w = std::exchange(r->waiter, nullptr)) {
      w->rq = nullptr;
      w->finish(to_endpoints(*r, status, res));
    }
    uv_freeaddrinfo(res);
    delete r;
  }
  // Lets go of the request: it is cancelled if no pool thread has taken it yet, else it runs to
  // its end and on_done frees it.
  void detach() {
    if (!rq) return;
    rq->waiter = nullptr;
    (void)uv_cancel(reinterpret_cast<uv_req_t*>(&rq->req));
    rq = nullptr;
  }
  void on_cancel() {
    detach();
    finish(cancelled_error());
  }
};

}  // namespace

Task<Result<std::vector<Endpoint>>> resolve_host(Loop& loop, std::string host, uint16_t port,
                                                 CancelToken token, int family) {
  if (host.empty()) co_return Error(Errc::invalid_argument, "resolving: empty host name");
  ResolveWait w(loop, std::move(host), port, std::move(token), family);
  co_return co_await w;
}

}  // namespace ptun::core
