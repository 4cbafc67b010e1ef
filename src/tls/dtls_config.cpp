#include "tls/dtls_config.hpp"

#include <mbedtls/ssl_ciphersuites.h>

#include <climits>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "tls/mbedtls_util.hpp"
#include "tls/record_aead.hpp"

namespace ptun::tls {
namespace {

constexpr int kAes = MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;
constexpr int kChaCha = MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256;

// Both lists are read by mbedTLS through the pointer for the config's lifetime: static storage.
// Groups by their IANA numbers; signature algorithms as TLS 1.2 (hash << 8 | signature) pairs,
// which mbedTLS 3 spells with its TLS 1.3 names: ECDSA with SHA-256 and SHA-384.
const uint16_t kGroups[] = {MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1, MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
                            MBEDTLS_SSL_IANA_TLS_GROUP_NONE};
const uint16_t kSigAlgs[] = {MBEDTLS_TLS1_3_SIG_ECDSA_SECP256R1_SHA256,
                             MBEDTLS_TLS1_3_SIG_ECDSA_SECP384R1_SHA384, MBEDTLS_TLS1_3_SIG_NONE};

Error conf_error(const char* what, int ret) {
  return Error(Errc::invalid_argument, std::string(what) + ": " + detail::mbedtls_error_text(ret));
}

}  // namespace

void detail::conf_ecdsa_profile(mbedtls_ssl_config* conf) {
  mbedtls_ssl_conf_groups(conf, kGroups);
  mbedtls_ssl_conf_sig_algs(conf, kSigAlgs);
  mbedtls_ssl_conf_cert_profile(conf, &mbedtls_x509_crt_profile_next);
  // Renegotiation and session tickets are compiled out of our mbedTLS (ptun_mbedtls_config.h);
  // the calls stay for a build against a distribution's library that has them.
#if defined(MBEDTLS_SSL_RENEGOTIATION)
  mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
  mbedtls_ssl_conf_legacy_renegotiation(conf, MBEDTLS_SSL_LEGACY_NO_RENEGOTIATION);
#if defined(MBEDTLS_SSL_SESSION_TICKETS)
  mbedtls_ssl_conf_session_tickets(conf, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
#endif
}

// mbedTLS 3 keeps its own detection internal; this asks CPUID for the same two bits it uses
// (leaf 1, ECX: AES-NI bit 25, PCLMULQDQ bit 1).
bool has_aesni() {
#if defined(MBEDTLS_AESNI_C) && (defined(__x86_64__) || defined(__i386__))
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return false;
  return (c & (1u << 25)) != 0 && (c & (1u << 1)) != 0;
#else
  return false;
#endif
}

DtlsConfig::DtlsConfig(bool server, std::shared_ptr<Credentials> creds, const DtlsOptions& opts)
    : server_(server), opts_(opts), creds_(std::move(creds)) {
  mbedtls_ssl_config_init(&conf_);
  mbedtls_ctr_drbg_init(&drbg_);
}

DtlsConfig::~DtlsConfig() {
  mbedtls_ssl_config_free(&conf_);
  mbedtls_ctr_drbg_free(&drbg_);
}

Result<std::shared_ptr<DtlsConfig>> DtlsConfig::make_client(std::shared_ptr<Credentials> creds, Rng& rng,
                                                            const DtlsOptions& opts) {
  return make(false, std::move(creds), rng, opts, nullptr);
}

Result<std::shared_ptr<DtlsConfig>> DtlsConfig::make_server(std::shared_ptr<Credentials> creds, Rng& rng,
                                                            const DtlsOptions& opts,
                                                            std::shared_ptr<CookieGuard> cookies) {
  if (!cookies) {
    auto g = CookieGuard::make(rng);
    if (!g) return g.error();
    cookies = std::move(*g);
  }
  return make(true, std::move(creds), rng, opts, std::move(cookies));
}

Result<std::shared_ptr<DtlsConfig>> DtlsConfig::make(bool server, std::shared_ptr<Credentials> creds,
                                                     Rng& rng, const DtlsOptions& opts,
                                                     std::shared_ptr<CookieGuard> cookies) {
  if (!creds) return Error(Errc::invalid_argument, "DTLS config: no credentials");
  if (opts.hs_timeout_min_ms == 0 || opts.hs_timeout_max_ms < opts.hs_timeout_min_ms)
    return Error(Errc::invalid_argument, "DTLS config: handshake timeouts need 0 < min <= max");
  if (opts.mtu != 0 && opts.mtu < 300)
    return Error(Errc::invalid_argument, "DTLS config: handshake mtu below 300 bytes");
  std::shared_ptr<DtlsConfig> c(new DtlsConfig(server, std::move(creds), opts));
  c->cookies_ = std::move(cookies);
  if (auto r = c->init(rng); !r) return r.error();
  return c;
}

void DtlsConfig::set_crl(std::shared_ptr<Crl> crl) {
  crl_ = std::move(crl);
  mbedtls_ssl_conf_ca_chain(&conf_, creds_->ca(), crl_ ? crl_->raw() : nullptr);
}

Result<void> DtlsConfig::init(Rng& rng) {
  static const unsigned char kPers[] = "ptun-dtls";
  int ret = mbedtls_ctr_drbg_seed(&drbg_, detail::rng_fill, &rng, kPers, sizeof kPers - 1);
  if (ret != 0) return conf_error("DRBG seed", ret);

  ret = mbedtls_ssl_config_defaults(&conf_, server_ ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                    MBEDTLS_SSL_TRANSPORT_DATAGRAM, MBEDTLS_SSL_PRESET_DEFAULT);
  if (ret != 0) return conf_error("ssl config defaults", ret);
  mbedtls_ssl_conf_rng(&conf_, mbedtls_ctr_drbg_random, &drbg_);

  // DTLS 1.2 only (mbedTLS numbers DTLS versions like their TLS counterparts).
  mbedtls_ssl_conf_min_tls_version(&conf_, MBEDTLS_SSL_VERSION_TLS1_2);
  mbedtls_ssl_conf_max_tls_version(&conf_, MBEDTLS_SSL_VERSION_TLS1_2);

  SuiteOrder order = opts_.suite_order;
  if (order == SuiteOrder::automatic && opts_.prefer_chacha) order = SuiteOrder::chacha_first;
  if (order == SuiteOrder::automatic) {
    // Records sealed by mbedTLS: ChaCha20-Poly1305 is its faster AEAD even with AES-NI (GCM goes
    // a block at a time: 3.6.6, one core, 1400-byte calls, 270 vs 242 MB/s). Sealed by OpenSSL
    // on a CPU with AES-NI+PCLMUL, AES-128-GCM is about twice its ChaCha (bench/record: 1.30 M vs
    // 0.51 M seals/s). A server set to automatic follows the client's order: the client knows
    // its own CPU (a MIPS router wants ChaCha even when the server has AES-NI).
    order = kRecordAeadIsOpenssl && has_aesni() ? SuiteOrder::aes_first : SuiteOrder::chacha_first;
    if (server_) mbedtls_ssl_conf_preference_order(&conf_, MBEDTLS_SSL_SRV_CIPHERSUITE_ORDER_CLIENT);
  }
  switch (order) {
    case SuiteOrder::automatic:  // resolved above
    case SuiteOrder::aes_first: suites_[0] = kAes; suites_[1] = kChaCha; break;
    case SuiteOrder::chacha_first: suites_[0] = kChaCha; suites_[1] = kAes; break;
    case SuiteOrder::aes_only: suites_[0] = kAes; break;
    case SuiteOrder::chacha_only: suites_[0] = kChaCha; break;
  }
  mbedtls_ssl_conf_ciphersuites(&conf_, suites_);
  detail::conf_ecdsa_profile(&conf_);

  mbedtls_ssl_conf_authmode(&conf_, MBEDTLS_SSL_VERIFY_REQUIRED);
  mbedtls_ssl_conf_ca_chain(&conf_, creds_->ca(), nullptr);
  ret = mbedtls_ssl_conf_own_cert(&conf_, creds_->cert(), creds_->key());
  if (ret != 0) return conf_error("own certificate", ret);
  mbedtls_ssl_conf_dtls_anti_replay(&conf_, MBEDTLS_SSL_ANTI_REPLAY_ENABLED);
  // Records failing authentication are dropped silently and must never end the association (an
  // off-path attacker could forge them); the limit is only set so mbedTLS counts them (badmac_seen
  // is incremented only with a non-zero limit).
  mbedtls_ssl_conf_dtls_badmac_limit(&conf_, UINT_MAX);
  mbedtls_ssl_conf_handshake_timeout(&conf_, opts_.hs_timeout_min_ms, opts_.hs_timeout_max_ms);

  if (server_) {
    mbedtls_ssl_conf_dtls_cookies(&conf_, mbedtls_ssl_cookie_write, mbedtls_ssl_cookie_check,
                                  cookies_->raw());
  }
  return ok();
}

}  // namespace ptun::tls
