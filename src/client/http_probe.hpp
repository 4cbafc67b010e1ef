// The on-demand probe (Apple: probeURL / requiredURLStringProbe): does an http:// URL answer 2xx
// over the *current network*? The socket carries ptun's fwmark, so the probe bypasses the tunnel's
// routes and tests the network itself.
#pragma once
#include <string>

#include "core/core.hpp"

namespace ptun::client {

// True for an HTTP status 200..299 within timeout_ms. Any error (bad URL, name that does not
// resolve, refused, timeout, cancelled, malformed reply) is false. A host name is resolved with
// getaddrinfo, which blocks the loop while it runs: use address literals where that matters.
core::Task<bool> http_probe(core::Loop& loop, const std::string& url, uint32_t fwmark, uint64_t timeout_ms,
                            core::CancelToken stop);

// "HTTP/1.x NNN ..." -> NNN, or -1 (pure; tested).
int http_status(std::string_view head);

}  // namespace ptun::client
