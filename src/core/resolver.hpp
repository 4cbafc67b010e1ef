// Name resolution off the loop: libuv's uv_getaddrinfo runs getaddrinfo(3) in the thread pool,
// so a slow or dead DNS server never stalls the tunnel. The client resolves its server on every
// connection attempt with it (a name that does not resolve yet is retried, not fatal).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "core/cancel.hpp"
#include "core/loop.hpp"
#include "core/task.hpp"

namespace ptun::core {

// At most this many addresses are returned (a name with hundreds of records is not an error).
inline constexpr size_t kMaxResolvedAddresses = 16;

// Resolves `host` (a DNS name, or an address literal) to UDP endpoints with port `port`, in the
// order getaddrinfo sorts them (RFC 6724: the address to try first comes first), duplicates
// removed, at most kMaxResolvedAddresses; `family` AF_UNSPEC, AF_INET or AF_INET6.
// Errors: Errc::not_found "resolving HOST: REASON" (no such name, no address of that family, no
// answer from any DNS server: the caller retries later), Errc::invalid_argument (empty host),
// Errc::cancelled. A cancelled wait completes at once; a lookup already running in a pool thread
// finishes there in the background and its answer is dropped (the Loop's destructor waits for
// it: the worker must not outlive the loop it reports to).
Task<Result<std::vector<Endpoint>>> resolve_host(Loop& loop, std::string host, uint16_t port,
                                                 CancelToken token = {}, int family = AF_UNSPEC);

}  // namespace ptun::core
