// One mbedtls_ssl_config per role, shared by every DtlsSession of that role: DTLS 1.2 only,
// mutual certificate authentication (verify REQUIRED both ways), exactly two AEAD suites
// (ECDHE-ECDSA with AES-128-GCM or ChaCha20-Poly1305), curves P-256 and X25519, no renegotiation,
// no session tickets, anti-replay on, DRBG seeded from an injected Rng.
#pragma once
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ssl.h>

#include <cstdint>
#include <memory>

#include "common/result.hpp"
#include "common/rng.hpp"
#include "tls/cookie_guard.hpp"
#include "tls/credentials.hpp"
#include "tls/crl.hpp"

namespace ptun::tls {

// Cipher suite order (the server's order decides). mbedTLS runs GCM a block at a time, so
// ChaCha20-Poly1305 is the faster suite on every CPU measured; AES-GCM stays for peers that want it.
enum class SuiteOrder : uint8_t {
  automatic,     // ChaCha first: measured faster in mbedTLS 3.6 even with AES-NI (dtls_config.cpp)
  aes_first,
  chacha_first,
  aes_only,      // for tests and benchmarks of one suite
  chacha_only,
};

struct DtlsOptions {
  uint32_t hs_timeout_min_ms = 1000;   // first handshake retransmission; doubles up to max
  uint32_t hs_timeout_max_ms = 16000;  // past this the handshake fails ("handshake timeout")
  bool prefer_chacha = false;          // true: ChaCha first (same as SuiteOrder::chacha_first)
  SuiteOrder suite_order = SuiteOrder::automatic;
  uint16_t mtu = 1400;                 // max datagram during the handshake (mbedtls_ssl_set_mtu)
  // Max datagram for application records once established; 0 = no limit beyond the 16 KiB record
  // size (the caller sizes its records with max_plaintext()). Kept separate from `mtu` so that a
  // 1400-byte handshake limit does not cap tunnelled packets at 1363 bytes.
  uint16_t data_mtu = 0;
};

class DtlsConfig {
 public:
  // `rng` seeds the DRBG now and on every reseed: it must outlive the config.
  static Result<std::shared_ptr<DtlsConfig>> make_client(std::shared_ptr<Credentials> creds, Rng& rng,
                                                         const DtlsOptions& opts = {});
  // `cookies`: the CookieGuard that screens ClientHellos before sessions exist; the sessions check
  // cookies with the same key. nullptr: a new guard is made (reach it through cookie_guard()).
  static Result<std::shared_ptr<DtlsConfig>> make_server(std::shared_ptr<Credentials> creds, Rng& rng,
                                                         const DtlsOptions& opts = {},
                                                         std::shared_ptr<CookieGuard> cookies = nullptr);
  ~DtlsConfig();
  DtlsConfig(const DtlsConfig&) = delete;
  DtlsConfig& operator=(const DtlsConfig&) = delete;

  mbedtls_ssl_config* raw() { return &conf_; }
  bool is_server() const { return server_; }
  const DtlsOptions& options() const { return opts_; }
  const Credentials& credentials() const { return *creds_; }
  // Server: the guard sharing this config's cookie key. Client: nullptr.
  CookieGuard* cookie_guard() const { return cookies_.get(); }
  // The suites in preference order, as mbedTLS names them.
  const int* ciphersuites() const { return suites_; }
  // Revocation checked in every later handshake (nullptr: none). Takes effect for handshakes
  // that verify a certificate after this call; the config keeps the CRL alive.
  void set_crl(std::shared_ptr<Crl> crl);
  // For the fuzz harnesses (fuzz/session_fixture.hpp): the DRBG's whole state, saved once and put
  // back before every input, so that a handshake an input starts draws the same randoms whatever
  // inputs ran before it.
  mbedtls_ctr_drbg_context& drbg() { return drbg_; }

 private:
  DtlsConfig(bool server, std::shared_ptr<Credentials> creds, const DtlsOptions& opts);
  static Result<std::shared_ptr<DtlsConfig>> make(bool server, std::shared_ptr<Credentials> creds,
                                                  Rng& rng, const DtlsOptions& opts,
                                                  std::shared_ptr<CookieGuard> cookies);
  Result<void> init(Rng& rng);

  bool server_;
  DtlsOptions opts_;
  std::shared_ptr<Credentials> creds_;  // mbedTLS points into these
  std::shared_ptr<CookieGuard> cookies_;
  std::shared_ptr<Crl> crl_;
  mbedtls_ssl_config conf_;
  mbedtls_ctr_drbg_context drbg_;
  int suites_[3] = {0, 0, 0};  // zero-terminated; mbedTLS keeps the pointer
};

// Whether this CPU has AES-NI and PCLMULQDQ as mbedTLS detects them.
bool has_aesni();

}  // namespace ptun::tls
