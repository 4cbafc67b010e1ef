// Stateless DTLS HelloVerify (RFC 6347 4.2.1) in front of session creation: a ClientHello from an
// address we have no session for is answered with a HelloVerifyRequest carrying an HMAC cookie
// bound to the client's transport id, and nothing is remembered. Only a ClientHello that returns
// a valid cookie (proving the address is reachable) justifies allocating a DtlsSession (~40 KB).
// The reply is never larger than the request, so the server cannot be used as an amplifier.
//
// The server DtlsConfig checks cookies with the same mbedtls_ssl_cookie_ctx (see
// DtlsConfig::make_server), so the session accepts the ClientHello this guard let through.
// Cookies embed mbedTLS's wall-clock time (mbedtls_time) and expire after 60 s; the HMAC key is
// drawn once at make() and not rotated.
#pragma once
#include <mbedtls/ssl_cookie.h>

#include <cstdint>
#include <memory>
#include <span>

#include "common/result.hpp"
#include "common/rng.hpp"

namespace ptun::tls {

class CookieGuard {
 public:
  // The rng is only used here (to draw the HMAC key), not retained.
  static Result<std::unique_ptr<CookieGuard>> make(Rng& rng);
  ~CookieGuard();
  CookieGuard(const CookieGuard&) = delete;
  CookieGuard& operator=(const CookieGuard&) = delete;

  enum class Verdict { not_client_hello, malformed, no_or_bad_cookie, ok };
  // Parses the first record of `datagram` as a DTLS ClientHello (epoch 0, handshake type 1,
  // unfragmented) and checks its cookie for `client_id` (the peer's address bytes).
  // no_or_bad_cookie: a HelloVerifyRequest was written to `reply` and *reply_len set to its size,
  // which never exceeds datagram.size() (if it would, or cap is too small, *reply_len is 0).
  // Every other verdict sets *reply_len to 0. Never allocates.
  Verdict check(std::span<const uint8_t> datagram, std::span<const uint8_t> client_id,
                uint8_t* reply, size_t cap, size_t* reply_len);

  // For DtlsConfig: the cookie context shared with mbedtls_ssl_conf_dtls_cookies.
  mbedtls_ssl_cookie_ctx* raw() { return &ctx_; }

 private:
  CookieGuard();
  mbedtls_ssl_cookie_ctx ctx_;
};

const char* verdict_name(CookieGuard::Verdict v);

}  // namespace ptun::tls
