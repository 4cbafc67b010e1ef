#include "tls/cookie_guard.hpp"

#include "tls/dtls_record.hpp"
#include "tls/mbedtls_util.hpp"

namespace ptun::tls {

CookieGuard::CookieGuard() { mbedtls_ssl_cookie_init(&ctx_); }
CookieGuard::~CookieGuard() { mbedtls_ssl_cookie_free(&ctx_); }

Result<std::unique_ptr<CookieGuard>> CookieGuard::make(Rng& rng) {
  std::unique_ptr<CookieGuard> g(new CookieGuard());
  int ret = mbedtls_ssl_cookie_setup(&g->ctx_, detail::rng_fill, &rng);
  if (ret != 0) return Error(Errc::io, "cookie setup: " + detail::mbedtls_error_text(ret));
  return g;
}

CookieGuard::Verdict CookieGuard::check(std::span<const uint8_t> datagram,
                                        std::span<const uint8_t> client_id, uint8_t* reply,
                                        size_t cap, size_t* reply_len) {
  *reply_len = 0;
  wire::ClientHelloView ch;
  switch (wire::parse_client_hello(datagram, &ch)) {
    case wire::ClientHelloParse::not_client_hello: return Verdict::not_client_hello;
    case wire::ClientHelloParse::malformed: return Verdict::malformed;
    case wire::ClientHelloParse::ok: break;
  }
  if (!ch.cookie.empty() &&
      mbedtls_ssl_cookie_check(&ctx_, ch.cookie.data(), ch.cookie.size(), client_id.data(),
                               client_id.size()) == 0)
    return Verdict::ok;

  // The cookie is written to a stack buffer first: its length is fixed by mbedTLS (4-byte time +
  // 28-byte HMAC) but we only trust what cookie_write reports.
  uint8_t cookie[wire::kMaxCookieLen];
  unsigned char* p = cookie;
  if (mbedtls_ssl_cookie_write(&ctx_, &p, cookie + sizeof cookie, client_id.data(),
                               client_id.size()) != 0)
    return Verdict::no_or_bad_cookie;
  std::span<const uint8_t> c(cookie, size_t(p - cookie));
  size_t limit = cap < datagram.size() ? cap : datagram.size();  // amplification bound
  *reply_len = wire::encode_hello_verify_request(ch, c, reply, limit);
  return Verdict::no_or_bad_cookie;
}

const char* verdict_name(CookieGuard::Verdict v) {
  switch (v) {
    case CookieGuard::Verdict::not_client_hello: return "not_client_hello";
    case CookieGuard::Verdict::malformed: return "malformed";
    case CookieGuard::Verdict::no_or_bad_cookie: return "no_or_bad_cookie";
    case CookieGuard::Verdict::ok: return "ok";
  }
  return "?";
}

}  // namespace ptun::tls
