#include "tls/dtls_session.hpp"

#include <mbedtls/platform_util.h>
#include <mbedtls/ssl_ciphersuites.h>

#include <cstring>

#include "common/limits.hpp"
#include "tls/dtls_record.hpp"
#include "tls/mbedtls_util.hpp"

namespace ptun::tls {
namespace {

// A record's payload plus generous room for header and AEAD expansion; bio_recv still checks the
// exact size of mbedTLS's input buffer.
constexpr size_t kMaxFedDatagram = MBEDTLS_SSL_IN_CONTENT_LEN + 1024;

bool is_certificate_alert(uint8_t d) { return d >= 42 && d <= 49; }

}  // namespace

DtlsSession::DtlsSession(std::shared_ptr<DtlsConfig> config, OutputFn out, void* ctx)
    : config_(std::move(config)), out_(out), out_ctx_(ctx) {
  mbedtls_ssl_init(&ssl_);
  int ret = take_setup_context() ? 0 : mbedtls_ssl_setup(&ssl_, config_->raw());
  if (ret != 0) {
    fail(Errc::io, "session setup: " + detail::mbedtls_error_text(ret));
    return;
  }
  setup_ok_ = true;
  pending_.reserve(limits::kMaxDatagram);
  mbedtls_ssl_set_bio(&ssl_, this, bio_send, bio_recv, nullptr);
  mbedtls_ssl_set_timer_cb(&ssl_, this, timer_set, timer_get);
  mbedtls_ssl_set_export_keys_cb(&ssl_, export_keys, this);
  mbedtls_ssl_set_mtu(&ssl_, config_->options().mtu);
}

DtlsSession::~DtlsSession() {
  if (!park_for_reuse()) mbedtls_ssl_free(&ssl_);
  mbedtls_platform_zeroize(master_.data(), master_.size());
}

Result<void> DtlsSession::set_hostname(const std::string& name) {
  if (config_->is_server()) return Error(Errc::invalid_argument, "set_hostname on a server session");
  if (name.empty()) return Error(Errc::invalid_argument, "empty server name");
  if (!setup_ok_) return Error(Errc::io, error_);
  int ret = mbedtls_ssl_set_hostname(&ssl_, name.c_str());
  if (ret != 0) return Error(Errc::invalid_argument, "server name: " + detail::mbedtls_error_text(ret));
  hostname_ = name;
  return ok();
}

Result<void> DtlsSession::set_client_id(std::span<const uint8_t> id) {
  if (!config_->is_server()) return Error(Errc::invalid_argument, "set_client_id on a client session");
  if (id.empty()) return Error(Errc::invalid_argument, "empty client id");
  if (!setup_ok_) return Error(Errc::io, error_);
  int ret = mbedtls_ssl_set_client_transport_id(&ssl_, id.data(), id.size());
  if (ret != 0) return Error(Errc::invalid_argument, "client id: " + detail::mbedtls_error_text(ret));
  client_id_.assign(id.begin(), id.end());
  return ok();
}

void DtlsSession::feed(std::span<const uint8_t> datagram, uint64_t now_ms) {
  now_ms_ = now_ms;
  // An empty datagram would read as EOF to mbedTLS's BIO contract: it carries nothing anyway.
  if (datagram.empty()) return;
  if (has_pending_) ++stats_.dropped_unconsumed;
  has_pending_ = false;
  if (datagram.size() > kMaxFedDatagram) {
    ++stats_.dropped_oversize;
    return;
  }
  pending_.assign(datagram.begin(), datagram.end());
  has_pending_ = true;
}

DtlsSession::Hs DtlsSession::fail(Errc code, std::string why) {
  hs_ = Hs::failed;
  dead_ = true;
  dead_code_ = code;
  error_ = std::move(why);
  timer_armed_ = false;
  return hs_;
}

Error DtlsSession::handshake_error(int ret) {
  uint32_t flags = mbedtls_ssl_get_verify_result(&ssl_);
  switch (ret) {
    case MBEDTLS_ERR_SSL_TIMEOUT:
      return Error(Errc::timeout, "handshake timeout");
    case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE: {
      uint8_t d = detail::received_alert(ssl_);
      return Error(is_certificate_alert(d) ? Errc::auth : Errc::protocol,
                   "peer sent alert: " + detail::alert_name(d));
    }
    case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
      return Error(Errc::closed, "peer closed the connection during the handshake");
    case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
      return Error(Errc::auth, "peer sent no certificate");
    default:
      break;
  }
  // Certificate problems surface as X509_CERT_VERIFY_FAILED or as BAD_HS_CERTIFICATE (e.g. a key
  // on a curve we do not accept); the verify flags say why in both cases. 0xFFFFFFFF = no result.
  if (flags != 0 && flags != UINT32_MAX)
    return Error(Errc::auth, detail::verify_failure_text(flags, hostname_));
  return Error(Errc::protocol, "handshake failed: " + detail::mbedtls_error_text(ret));
}

DtlsSession::Hs DtlsSession::handshake(uint64_t now_ms) {
  now_ms_ = now_ms;
  if (hs_ != Hs::in_progress) return hs_;
  if (!config_->is_server() && hostname_.empty())
    return fail(Errc::invalid_argument, "no server name to verify (set_hostname not called)");
  if (config_->is_server() && client_id_.empty())
    return fail(Errc::invalid_argument, "no client transport id (set_client_id not called)");
  int ret = mbedtls_ssl_handshake(&ssl_);
  if (ret == 0) {
    on_established();
    return hs_;
  }
  if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) return hs_;
  if (ret == MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED) {
    // mbedTLS already sent a HelloVerifyRequest; start over, waiting for the ClientHello with
    // the cookie. Normally CookieGuard filtered this out before the session existed.
    ++stats_.hello_verify_sent;
    int r = mbedtls_ssl_session_reset(&ssl_);
    if (r == 0)
      r = mbedtls_ssl_set_client_transport_id(&ssl_, client_id_.data(), client_id_.size());
    if (r != 0) return fail(Errc::io, "session reset: " + detail::mbedtls_error_text(r));
    mbedtls_ssl_set_mtu(&ssl_, config_->options().mtu);
    return hs_;
  }
  Error e = handshake_error(ret);
  return fail(e.code, std::move(e.message));
}

void DtlsSession::on_established() {
  hs_ = Hs::done;
  timer_armed_ = false;
  const mbedtls_x509_crt* peer = mbedtls_ssl_get_peer_cert(&ssl_);
  peer_cn_ = detail::common_name_of(peer);
  if (peer != nullptr) {
    peer_serial_.assign(reinterpret_cast<const char*>(peer->serial.p), peer->serial.len);
    peer_not_after_ = detail::x509_time_to_unix(peer->valid_to);
    peer_fingerprint_ = detail::fingerprint_of(peer);
  }
  mbedtls_ssl_set_mtu(&ssl_, config_->options().data_mtu);
  max_plaintext_ = max_plaintext();
  start_fast_path();
}

// mbedTLS calls this from the handshake once it has the master secret (before the Finished
// messages); the suite is certain only at the end, so the keys are derived in start_fast_path.
void DtlsSession::export_keys(void* ctx, mbedtls_ssl_key_export_type type, const unsigned char* secret,
                              size_t secret_len, const unsigned char client_random[32],
                              const unsigned char server_random[32], mbedtls_tls_prf_types prf) {
  auto* self = static_cast<DtlsSession*>(ctx);
  if (type != MBEDTLS_SSL_KEY_EXPORT_TLS12_MASTER_SECRET || secret_len != self->master_.size()) return;
  std::memcpy(self->master_.data(), secret, secret_len);
  std::memcpy(self->client_random_.data(), client_random, 32);
  std::memcpy(self->server_random_.data(), server_random, 32);
  self->prf_ = prf;
  self->have_master_ = true;
}

void DtlsSession::start_fast_path() {
  int suite = mbedtls_ssl_get_ciphersuite_id_from_ssl(&ssl_);
  bool known = true;
  RecordAead aead = RecordAead::chacha20_poly1305;
  if (suite == MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) aead = RecordAead::aes_128_gcm;
  else if (suite != MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256) known = false;
  // Both directions must be in the epoch the keys belong to (1 after a first handshake; there is
  // no renegotiation). Otherwise, or for a suite not listed, only the slow path runs.
  uint16_t epoch = detail::in_epoch(ssl_);
  if (have_master_ && known && epoch == detail::out_epoch(ssl_)) {
    RecordKeys keys;
    if (derive_record_keys(aead, config_->is_server(), master_, client_random_, server_random_, prf_, &keys)) {
      auto p = RecordProtection::make(keys);
      if (p) {
        prot_ = std::move(*p);
        key_epoch_ = epoch;
        if (keep_keys_) kept_keys_ = std::make_unique<RecordKeys>(keys);
      }
    }
  }
  mbedtls_platform_zeroize(master_.data(), master_.size());
  have_master_ = false;
}

Result<DtlsSnapshot> DtlsSession::snapshot() {
  if (!established()) return Error(Errc::closed, "snapshot of a session that is not established");
  DtlsSnapshot snap;
  snap.peer_cn = peer_cn_;
  if (kept_keys_) {
    snap.has_record_keys = true;
    snap.record_keys = *kept_keys_;
  }
  snap.context.resize(MBEDTLS_SSL_IN_CONTENT_LEN);
  size_t len = 0;
  int ret = mbedtls_ssl_context_save(&ssl_, snap.context.data(), snap.context.size(), &len);
  if (ret != 0) return Error(Errc::protocol, "snapshot: " + detail::mbedtls_error_text(ret));
  snap.context.resize(len);
  dead_ = true;  // mbedtls_ssl_context_save reset the context
  error_ = "snapshotted";
  return snap;
}

Result<void> DtlsSession::restore(const DtlsSnapshot& snap) {
  if (!setup_ok_) return Error(Errc::io, error_);
  if (!reuse_restored(snap)) {
    int ret = mbedtls_ssl_context_load(&ssl_, snap.context.data(), snap.context.size());
    if (ret != 0) return Error(Errc::protocol, "restore: " + detail::mbedtls_error_text(ret));
    if (snap.has_record_keys) {
      auto p = RecordProtection::make(snap.record_keys);
      if (!p) return p.error();
      prot_ = std::move(*p);
    }
    keep_for_reuse(snap);
  }
  hs_ = Hs::done;
  timer_armed_ = false;
  peer_cn_ = snap.peer_cn;
  max_plaintext_ = max_plaintext();
  if (prot_) key_epoch_ = detail::in_epoch(ssl_);
  return ok();
}

size_t DtlsSession::seal_headroom() const { return prot_ ? prot_->headroom() : kMaxSealHeadroom; }

Result<std::span<uint8_t>> DtlsSession::seal(uint8_t* plaintext, size_t len) {
  PendingSeal later;
  auto record = seal_later(plaintext, len, &later);
  if (record) later.seal_now(record->data());
  return record;
}

Result<std::span<uint8_t>> DtlsSession::seal_later(uint8_t* plaintext, size_t len, PendingSeal* later) {
  if (!fast_path_ready()) return Error(Errc::closed, dead_ ? "session is closed: " + error_ : "no record keys yet");
  if (len > max_plaintext_)
    return Error(Errc::invalid_argument,
                 "record of " + std::to_string(len) + " bytes exceeds " + std::to_string(max_plaintext_));
  uint64_t epoch_seq = 0;
  if (!detail::take_out_seq(ssl_, &epoch_seq) || (epoch_seq >> 48) != key_epoch_)
    return Error(Errc::limit, "record sequence numbers exhausted");
  later->prot = prot_.get();
  later->hold.reset();
  later->epoch_seq = epoch_seq;
  later->record_off = 0;
  later->plaintext_len = uint32_t(len);
  ++stats_.records_out;
  ++stats_.records_out_fast;
  return std::span<uint8_t>(plaintext - prot_->headroom(), prot_->headroom() + len + prot_->tailroom());
}

DatagramPath DtlsSession::open_begin(std::span<uint8_t> datagram, RecordCursor* cursor) {
  // Unread input inside mbedTLS (the rest of a datagram, a held-back message) must be read first.
  if (!fast_path_ready() || has_pending_ || mbedtls_ssl_check_pending(&ssl_) != 0) return DatagramPath::slow;
  if (classify_datagram(datagram) == DatagramPath::slow) return DatagramPath::slow;
  cursor->rest = datagram;
  ++stats_.datagrams_in_fast;
  return DatagramPath::fast;
}

bool DtlsSession::open_next(RecordCursor& cursor, std::span<uint8_t>* plaintext) {
  if (!fast_path_ready()) {
    cursor.rest = {};
    return false;
  }
  // The window lives in mbedTLS's context: loaded and stored around each record, so an mbedTLS
  // call between two open_next() calls sees every number the fast path accepted.
  ReplayWindow window = detail::load_replay_window(ssl_);
  OpenDrops drops;
  bool got = tls::open_next(*prot_, window, key_epoch_, cursor, plaintext, &drops);
  detail::store_replay_window(ssl_, window);
  stats_.dropped_replay_or_auth += drops.replayed + drops.bad_mac + drops.wrong_epoch;
  fast_bad_mac_ += drops.bad_mac;
  stats_.dropped_malformed += drops.malformed;
  stats_.dropped_oversize += drops.oversize;
  if (got) {
    ++stats_.records_in;
    ++stats_.records_in_fast;
  }
  return got;
}

void DtlsSession::settle_drop_accounting() {
  if (app_records_fed_ > app_records_returned_)
    stats_.dropped_replay_or_auth += app_records_fed_ - app_records_returned_;
  app_records_fed_ = app_records_returned_ = 0;
}

Result<size_t> DtlsSession::read(uint8_t* out, size_t cap, uint64_t now_ms) {
  now_ms_ = now_ms;
  if (dead_) return Error(dead_code_, error_);
  if (cap == 0) return Error(Errc::invalid_argument, "read buffer of 0 bytes");
  if (hs_ != Hs::done) {
    Hs h = handshake(now_ms);
    if (h == Hs::failed) return Error(dead_code_, error_);
    if (h == Hs::in_progress) return size_t{0};
  }
  for (;;) {
    int ret = mbedtls_ssl_read(&ssl_, out, cap);
    if (ret > 0) {
      ++app_records_returned_;
      if (size_t(ret) == cap && mbedtls_ssl_get_bytes_avail(&ssl_) > 0) {
        // DTLS records are datagrams: a truncated one is garbage to the caller. Drain and drop.
        uint8_t scratch[256];
        while (mbedtls_ssl_get_bytes_avail(&ssl_) > 0 && mbedtls_ssl_read(&ssl_, scratch, sizeof scratch) > 0) {
        }
        ++stats_.dropped_oversize;
        continue;
      }
      ++stats_.records_in;
      return size_t(ret);
    }
    if (ret == 0 || ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
      settle_drop_accounting();
      return size_t{0};
    }
    dead_ = true;
    switch (ret) {
      case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
        dead_code_ = Errc::closed;
        error_ = "peer sent close_notify";
        break;
      case MBEDTLS_ERR_SSL_CLIENT_RECONNECT:
        // A valid-cookie ClientHello from the same address: the client restarted. The caller
        // drops this session; the client's retransmission goes through CookieGuard again.
        dead_code_ = Errc::closed;
        error_ = "peer started a new handshake from the same address";
        break;
      case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
        dead_code_ = Errc::protocol;
        error_ = "peer sent alert: " + detail::alert_name(detail::received_alert(ssl_));
        break;
      default:
        dead_code_ = Errc::protocol;
        error_ = "read failed: " + detail::mbedtls_error_text(ret);
        break;
    }
    return Error(dead_code_, error_);
  }
}

Result<void> DtlsSession::write(std::span<const uint8_t> plaintext, uint64_t now_ms) {
  now_ms_ = now_ms;
  if (dead_) return Error(Errc::closed, "session is closed: " + error_);
  if (hs_ != Hs::done) return Error(Errc::closed, "handshake not complete");
  if (plaintext.size() > max_plaintext())
    return Error(Errc::invalid_argument, "record of " + std::to_string(plaintext.size()) +
                                             " bytes exceeds " + std::to_string(max_plaintext()));
  int ret = mbedtls_ssl_write(&ssl_, plaintext.data(), plaintext.size());
  if (ret >= 0 && size_t(ret) == plaintext.size()) {
    ++stats_.records_out;
    return ok();
  }
  dead_ = true;
  dead_code_ = Errc::protocol;
  error_ = "write failed: " + detail::mbedtls_error_text(ret < 0 ? ret : MBEDTLS_ERR_SSL_INTERNAL_ERROR);
  return Error(dead_code_, error_);
}

uint64_t DtlsSession::next_timeout() const {
  if (hs_ != Hs::in_progress || !timer_armed_) return UINT64_MAX;
  return timer_fin_at_;
}

void DtlsSession::on_timeout(uint64_t now_ms) {
  now_ms_ = now_ms;
  // mbedTLS notices the expired timer in its read path and retransmits (or gives up).
  if (hs_ == Hs::in_progress) handshake(now_ms);
}

void DtlsSession::close_notify(uint64_t now_ms) {
  now_ms_ = now_ms;
  if (dead_) return;
  if (hs_ == Hs::done) (void)mbedtls_ssl_close_notify(&ssl_);
  dead_ = true;
  dead_code_ = Errc::closed;
  error_ = "closed locally";
  timer_armed_ = false;
}

size_t DtlsSession::max_plaintext() const {
  if (!setup_ok_) return 0;
  int n = mbedtls_ssl_get_max_out_record_payload(&ssl_);
  return n > 0 ? size_t(n) : 0;
}

size_t DtlsSession::record_overhead() const {
  if (!setup_ok_) return 0;
  int n = mbedtls_ssl_get_record_expansion(&ssl_);
  return n > 0 ? size_t(n) : 0;
}

std::string DtlsSession::ciphersuite() const {
  if (!setup_ok_) return "";
  const char* s = mbedtls_ssl_get_ciphersuite(&ssl_);
  return s != nullptr ? s : "";
}

DtlsStats DtlsSession::stats() const {
  DtlsStats s = stats_;
  s.dropped_bad_mac = detail::bad_mac_records(ssl_) + fast_bad_mac_;
  return s;
}

int DtlsSession::bio_send(void* ctx, const unsigned char* buf, size_t len) {
  auto* self = static_cast<DtlsSession*>(ctx);
  ++self->stats_.datagrams_out;
  self->out_(self->out_ctx_, std::span<const uint8_t>(buf, len));
  return int(len);
}

int DtlsSession::bio_recv(void* ctx, unsigned char* buf, size_t len) {
  auto* self = static_cast<DtlsSession*>(ctx);
  if (!self->has_pending_) return MBEDTLS_ERR_SSL_WANT_READ;
  const std::vector<uint8_t>& d = self->pending_;
  self->has_pending_ = false;
  if (d.size() > len) {  // larger than mbedTLS's input buffer (16 KiB + overhead): not ours
    ++self->stats_.dropped_oversize;
    return MBEDTLS_ERR_SSL_WANT_READ;
  }
  std::memcpy(buf, d.data(), d.size());
  ++self->stats_.datagrams_in;
  self->app_records_fed_ += wire::count_records(d, wire::kContentApplicationData);
  return int(d.size());
}

void DtlsSession::timer_set(void* ctx, uint32_t int_ms, uint32_t fin_ms) {
  auto* self = static_cast<DtlsSession*>(ctx);
  self->timer_armed_ = fin_ms != 0;
  self->timer_int_at_ = self->now_ms_ + int_ms;
  self->timer_fin_at_ = self->now_ms_ + fin_ms;
}

// mbedTLS contract: -1 cancelled, 0 none expired, 1 intermediate expired, 2 final expired.
int DtlsSession::timer_get(void* ctx) {
  auto* self = static_cast<DtlsSession*>(ctx);
  if (!self->timer_armed_) return -1;
  if (self->now_ms_ >= self->timer_fin_at_) return 2;
  if (self->now_ms_ >= self->timer_int_at_) return 1;
  return 0;
}

}  // namespace ptun::tls
