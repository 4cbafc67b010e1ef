// Small adapters between mbedTLS and ptun: injected randomness, error and alert texts, and the
// human-readable reasons for certificate verification failures. Internal to src/tls/.
#pragma once
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include <cstdint>
#include <string>

#include "common/fingerprint.hpp"
#include "common/rng.hpp"
#include "tls/replay_window.hpp"

namespace ptun::tls::detail {

// Owners of an mbedTLS key and certificate chain (init on construction, free on destruction).
struct PkKey {
  mbedtls_pk_context pk;
  PkKey() { mbedtls_pk_init(&pk); }
  ~PkKey() { mbedtls_pk_free(&pk); }
  PkKey(const PkKey&) = delete;
  PkKey& operator=(const PkKey&) = delete;
};
struct Crt {
  mbedtls_x509_crt crt;
  Crt() { mbedtls_x509_crt_init(&crt); }
  ~Crt() { mbedtls_x509_crt_free(&crt); }
  Crt(const Crt&) = delete;
  Crt& operator=(const Crt&) = delete;
};

// An X.509 time (UTC) as seconds since the epoch.
int64_t x509_time_to_unix(const mbedtls_x509_time& x);

// What every ptun TLS and DTLS config shares: groups P-256 and X25519, ECDSA signatures with
// SHA-256/384, the "next" certificate profile, no renegotiation, no session tickets.
void conf_ecdsa_profile(mbedtls_ssl_config* conf);

// mbedTLS f_rng / f_entropy shape over a ptun::Rng (p is a Rng*). Never fails.
int rng_fill(void* p, unsigned char* out, size_t len);

// The description byte of the alert the peer sent (after MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE).
uint8_t received_alert(const mbedtls_ssl_context& ssl);
// Records of a DTLS association that failed authentication (counted with a non-zero badmac limit).
uint64_t bad_mac_records(const mbedtls_ssl_context& ssl);

// DTLS record-layer state that ptun's fast path (record_protection.hpp) shares with mbedTLS, kept
// in the mbedTLS context itself so that both paths use one sequence space and one replay window:
// - the outgoing epoch|seq counter (ssl->cur_out_ctr, 2-byte epoch + 6-byte sequence number);
// - the incoming epoch and replay window (ssl->in_epoch, in_window_top, in_window).
// Call only between mbedTLS calls (never from inside a BIO or timer callback).
uint16_t in_epoch(const mbedtls_ssl_context& ssl);
uint16_t out_epoch(const mbedtls_ssl_context& ssl);
// The next outgoing epoch << 48 | seq, advancing mbedTLS's counter past it exactly as
// mbedtls_ssl_write_record does. False, counter untouched, when the 48-bit sequence number space
// is spent (the last number, 2^48 - 1, is never handed out: mbedTLS would wrap after it).
bool take_out_seq(mbedtls_ssl_context& ssl, uint64_t* epoch_seq);
// The counter the next record (of either path) will carry, for tests and stats.
uint64_t peek_out_seq(const mbedtls_ssl_context& ssl);
ReplayWindow load_replay_window(const mbedtls_ssl_context& ssl);
void store_replay_window(mbedtls_ssl_context& ssl, const ReplayWindow& w);

// X.509 fields mbedTLS 3 made private: the writer's subject/issuer lists (ptun builds them itself
// to copy the CA's subject byte for byte), a certificate's CA flag, and whether a name attribute
// continues a multi-valued RDN.
void set_writer_names(mbedtls_x509write_cert* w, mbedtls_asn1_named_data* subject,
                      mbedtls_asn1_named_data* issuer);
bool is_ca(const mbedtls_x509_crt& crt);
bool continues_rdn(const mbedtls_x509_name& name);

// "X509 - Certificate verification failed ..." style text for an mbedTLS error code.
std::string mbedtls_error_text(int ret);

// TLS alert description name ("unknown_ca", "bad_certificate", ...), or "alert N".
std::string alert_name(uint8_t description);

// One line for mbedtls_x509_crt_verify flags: "certificate verify failed: not trusted by the CA",
// "...: certificate expired", "...: name mismatch (expected vpn.example.org)". Reasons ptun does not
// name itself come from mbedtls_x509_crt_verify_info.
std::string verify_failure_text(uint32_t flags, const std::string& expected_name);

// The subject CN of a certificate ("" if it has none).
std::string common_name_of(const mbedtls_x509_crt* crt);

// SHA-256 of the certificate's DER (the first certificate of a chain).
Fingerprint fingerprint_of(const mbedtls_x509_crt* crt);

}  // namespace ptun::tls::detail
