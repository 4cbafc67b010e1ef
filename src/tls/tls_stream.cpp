#include "tls/tls_stream.hpp"

#include <mbedtls/ssl_ciphersuites.h>

#include <algorithm>
#include <cstring>

#include "tls/mbedtls_util.hpp"

namespace ptun::tls {
namespace {

// Sealed by mbedTLS here (not the OpenSSL fast path of the DTLS records), where ChaCha20-Poly1305
// is the faster AEAD (dtls_config.cpp has the figures).
const int kSuites[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                       MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0};
constexpr size_t kMaxPlain = 16384;   // TLS's largest record

Error conf_error(const char* what, int ret) {
  return Error(Errc::invalid_argument, std::string("TLS config: ") + what + ": " + detail::mbedtls_error_text(ret));
}

}  // namespace

TlsStreamConfig::TlsStreamConfig(bool server, std::shared_ptr<Credentials> creds)
    : server_(server), creds_(std::move(creds)) {
  mbedtls_ssl_config_init(&conf_);
  mbedtls_ctr_drbg_init(&drbg_);
}

TlsStreamConfig::~TlsStreamConfig() {
  mbedtls_ssl_config_free(&conf_);
  mbedtls_ctr_drbg_free(&drbg_);
}

Result<std::shared_ptr<TlsStreamConfig>> TlsStreamConfig::make_client(std::shared_ptr<Credentials> creds, Rng& rng) {
  if (!creds) return Error(Errc::invalid_argument, "TLS config: no credentials");
  std::shared_ptr<TlsStreamConfig> c(new TlsStreamConfig(false, std::move(creds)));
  if (auto r = c->init(rng); !r) return r.error();
  return c;
}

Result<std::shared_ptr<TlsStreamConfig>> TlsStreamConfig::make_server(std::shared_ptr<Credentials> creds, Rng& rng) {
  if (!creds) return Error(Errc::invalid_argument, "TLS config: no credentials");
  std::shared_ptr<TlsStreamConfig> c(new TlsStreamConfig(true, std::move(creds)));
  if (auto r = c->init(rng); !r) return r.error();
  return c;
}

Result<void> TlsStreamConfig::init(Rng& rng) {
  static const unsigned char kPers[] = "ptun-tls-stream";
  int ret = mbedtls_ctr_drbg_seed(&drbg_, detail::rng_fill, &rng, kPers, sizeof kPers - 1);
  if (ret != 0) return conf_error("DRBG seed", ret);
  ret = mbedtls_ssl_config_defaults(&conf_, server_ ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
  if (ret != 0) return conf_error("defaults", ret);
  mbedtls_ssl_conf_rng(&conf_, mbedtls_ctr_drbg_random, &drbg_);
  mbedtls_ssl_conf_min_tls_version(&conf_, MBEDTLS_SSL_VERSION_TLS1_2);
  mbedtls_ssl_conf_max_tls_version(&conf_, MBEDTLS_SSL_VERSION_TLS1_2);
  mbedtls_ssl_conf_ciphersuites(&conf_, kSuites);
  detail::conf_ecdsa_profile(&conf_);
  if (server_) {
    // The DTLS session inside authenticates the client; no certificate asked out here.
    mbedtls_ssl_conf_authmode(&conf_, MBEDTLS_SSL_VERIFY_NONE);
    ret = mbedtls_ssl_conf_own_cert(&conf_, creds_->cert(), creds_->key());
    if (ret != 0) return conf_error("own certificate", ret);
  } else {
    mbedtls_ssl_conf_authmode(&conf_, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&conf_, creds_->ca(), nullptr);
  }
  return ok();
}

TlsStream::TlsStream(std::shared_ptr<TlsStreamConfig> config) : config_(std::move(config)) {
  mbedtls_ssl_init(&ssl_);
}

TlsStream::~TlsStream() { mbedtls_ssl_free(&ssl_); }

Result<std::unique_ptr<TlsStream>> TlsStream::make(std::shared_ptr<TlsStreamConfig> config,
                                                   const std::string& server_name) {
  if (!config) return Error(Errc::invalid_argument, "TLS stream: no config");
  if (!config->is_server() && server_name.empty())
    return Error(Errc::invalid_argument, "TLS stream: no server name to verify");
  std::unique_ptr<TlsStream> s(new TlsStream(std::move(config)));
  int ret = mbedtls_ssl_setup(&s->ssl_, s->config_->raw());
  if (ret != 0) return Error(Errc::io, "TLS stream setup: " + detail::mbedtls_error_text(ret));
  if (!server_name.empty()) {
    ret = mbedtls_ssl_set_hostname(&s->ssl_, server_name.c_str());
    if (ret != 0) return Error(Errc::invalid_argument, "TLS stream: server name: " + detail::mbedtls_error_text(ret));
  }
  s->server_name_ = server_name;
  mbedtls_ssl_set_bio(&s->ssl_, s.get(), bio_send, bio_recv, nullptr);
  return s;
}

int TlsStream::bio_send(void* ctx, const unsigned char* buf, size_t len) {
  auto* self = static_cast<TlsStream*>(ctx);
  self->out_.insert(self->out_.end(), buf, buf + len);
  return int(len);
}

int TlsStream::bio_recv(void* ctx, unsigned char* buf, size_t len) {
  auto* self = static_cast<TlsStream*>(ctx);
  size_t have = self->in_.size() - self->in_off_;
  if (have == 0) return MBEDTLS_ERR_SSL_WANT_READ;
  size_t n = std::min(have, len);
  std::memcpy(buf, self->in_.data() + self->in_off_, n);
  self->in_off_ += n;
  return int(n);
}

Result<void> TlsStream::fail(Errc code, std::string what) {
  if (error_.empty()) error_ = what;
  return Error(code, std::move(what));
}

Result<void> TlsStream::start() {
  if (config_->is_server()) return ok();
  return step_handshake();
}

Result<void> TlsStream::step_handshake() {
  int ret = mbedtls_ssl_handshake(&ssl_);
  if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) return ok();
  if (ret != 0) {
    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED)
      return fail(Errc::auth, detail::verify_failure_text(mbedtls_ssl_get_verify_result(&ssl_), server_name_));
    return fail(Errc::protocol, "TLS handshake: " + detail::mbedtls_error_text(ret));
  }
  established_ = true;
  if (const mbedtls_x509_crt* peer = mbedtls_ssl_get_peer_cert(&ssl_)) peer_cn_ = detail::common_name_of(peer);
  return ok();
}

Result<void> TlsStream::feed(std::span<const uint8_t> in, const DataFn& on_data) {
  if (failed()) return Error(Errc::closed, error_);
  if (in_off_ == in_.size()) {
    in_.clear();
    in_off_ = 0;
  }
  in_.insert(in_.end(), in.begin(), in.end());
  Result<void> r = ok();
  if (!established_) r = step_handshake();
  while (r && established_) {
    plain_.resize(kMaxPlain);
    int ret = mbedtls_ssl_read(&ssl_, plain_.data(), plain_.size());
    if (ret > 0) {
      on_data({plain_.data(), size_t(ret)});
      continue;
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) break;
    if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
      r = fail(Errc::closed, "TLS: the peer closed the stream");
    } else {
      r = fail(Errc::protocol, "TLS: " + detail::mbedtls_error_text(ret));
    }
  }
  // Keep only what mbedTLS has not taken (at most a partial record).
  in_.erase(in_.begin(), in_.begin() + ptrdiff_t(in_off_));
  in_off_ = 0;
  return r;
}

Result<void> TlsStream::write(std::span<const uint8_t> data) {
  if (failed()) return Error(Errc::closed, error_);
  if (!established_) return Error(Errc::invalid_argument, "TLS stream: handshake not done");
  while (!data.empty()) {
    int ret = mbedtls_ssl_write(&ssl_, data.data(), data.size());
    if (ret <= 0) return fail(Errc::protocol, "TLS write: " + detail::mbedtls_error_text(ret));
    data = data.subspan(size_t(ret));
  }
  return ok();
}

void TlsStream::close() {
  if (established_ && !failed()) (void)mbedtls_ssl_close_notify(&ssl_);
}

std::string TlsStream::cipher() const {
  const char* c = mbedtls_ssl_get_ciphersuite(&ssl_);
  return c ? c : "";
}

}  // namespace ptun::tls
