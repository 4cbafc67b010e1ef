// One DTLS 1.2 association over memory (sans-I/O): no sockets, no clock, no threads.
//
//   network -> feed(datagram, now) -> handshake(now) / read(out, now) -> plaintext records
//   plaintext -> write(record, now) -> OutputFn(datagram)              -> network
//   timer: next_timeout() -> caller's timer -> on_timeout(now)         (handshake retransmission)
//
// mbedTLS's BIO reads the one datagram handed to feed() and writes through OutputFn; its timer
// callbacks read the `now_ms` of the call in progress. A session is neither copyable nor movable
// (mbedTLS holds pointers to it); keep it behind a unique_ptr.
//
// Fast path (after the handshake): application-data records sealed and opened in place in the
// caller's buffers with the handshake's keys (record_protection.hpp), no copy beyond the AEAD:
//
//   [headroom | plaintext | tailroom] -> seal()  -> [record] -> network       (caller sends it)
//   network -> open_begin(datagram) == fast -> open_next() -> plaintext spans in the datagram
//                                   == slow -> feed() + read() as before
//
// One sequence space: the outgoing counter and the replay window stay in mbedTLS's context
// (mbedtls_util.hpp), read and advanced there by seal()/open_next(). So write(), alerts
// (close_notify) and a server's retransmitted last flight, which mbedTLS numbers itself, never
// reuse a number seal() used (a GCM nonce reuse would leak the key stream and the GHASH key), and
// mbedTLS refuses a record the fast path accepted, and vice versa. Keeping copies in ptun and
// syncing them around every mbedTLS call was the alternative; one shared copy cannot drift.
// Threads: seal() touches only the outgoing counter, the sealing AEAD context and the *_out
// stats (seal_later() only the counter and stats: its record is sealed by a PendingSeal, with a
// context of its own, on whichever thread sends it); open_begin()/open_next() only the replay window, the opening context and the *_in /
// dropped_* stats. One thread may seal while another opens, as long as no other call on the
// session (feed, read, write, handshake, on_timeout, close_notify, stats) runs at the same time.
#pragma once
#include <mbedtls/ssl.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/fingerprint.hpp"
#include "common/result.hpp"
#include "tls/dtls_config.hpp"
#include "tls/record_protection.hpp"

namespace ptun::tls {

struct DtlsStats {
  uint64_t datagrams_in = 0;            // handed to mbedTLS
  uint64_t datagrams_out = 0;           // emitted through OutputFn (handshake and records)
  uint64_t records_in = 0;              // application records returned by read() or open_next()
  uint64_t records_out = 0;             // application records written by write() or seal()
  uint64_t records_in_fast = 0;         // of which opened by open_next()
  uint64_t records_out_fast = 0;        // of which sealed by seal()
  uint64_t datagrams_in_fast = 0;       // datagrams open_begin() took (not handed to mbedTLS)
  uint64_t dropped_replay_or_auth = 0;  // application records mbedTLS discarded (replay, bad MAC,
                                        // wrong epoch, during handshake)
  uint64_t dropped_bad_mac = 0;         // of which failed authentication (mbedTLS badmac_seen
                                        // plus the fast path's)
  uint64_t dropped_malformed = 0;       // fast path: truncated, length beyond the datagram, too
                                        // short for nonce + tag, wrong version
  uint64_t dropped_unconsumed = 0;      // fed datagrams replaced by the next feed() before use
  uint64_t dropped_oversize = 0;        // records larger than read()'s cap or 2^14 (fast path),
                                        // or datagrams > buffer
  uint64_t hello_verify_sent = 0;       // ClientHellos without a valid cookie answered by the session
};

// An established association frozen by DtlsSession::snapshot(), for the fuzz harnesses: they
// restore() a fresh copy of it per input (a few microseconds) instead of paying for an ECDSA
// handshake (milliseconds), so every input starts from the same state and a finding reproduces
// from its file. Holds the session's secrets: never written anywhere, never used in production.
struct DtlsSnapshot {
  std::vector<uint8_t> context;  // mbedtls_ssl_context_save: session, keys, counters, window
  bool has_record_keys = false;  // the fast path's keys (derive_record_keys), if it had them
  RecordKeys record_keys;
  std::string peer_cn;
};

class DtlsSession {
 public:
  // Called synchronously from inside feed/handshake/read/write/on_timeout/close_notify with one
  // datagram to send. The span is only valid during the call: copy before returning.
  using OutputFn = void (*)(void* ctx, std::span<const uint8_t> datagram);

  // mbedtls_ssl_setup; a failure there (out of memory) makes handshake() return failed.
  DtlsSession(std::shared_ptr<DtlsConfig> config, OutputFn out, void* ctx);
  ~DtlsSession();
  // Where datagrams go from now on (a rekeyed session's keys change owner: proto/client_session).
  void set_output(OutputFn out, void* ctx) {
    out_ = out;
    out_ctx_ = ctx;
  }
  DtlsSession(const DtlsSession&) = delete;
  DtlsSession& operator=(const DtlsSession&) = delete;

  // Client: the name the server certificate must carry (CN or SAN dNSName). Required before
  // handshake() on a client: an unverified name would accept any certificate of the CA.
  Result<void> set_hostname(const std::string& name);
  // Server: the client's transport id (address bytes), binding the HelloVerify cookie. Required
  // before handshake() on a server; must equal what CookieGuard::check was given.
  Result<void> set_client_id(std::span<const uint8_t> id);

  // Hands one received datagram to the session; the next handshake()/read() consumes it. The
  // bytes are copied (one buffer per session, kMaxDatagram reserved, growing at most to mbedTLS's
  // input buffer size), so the span need not outlive the call: a zero-copy span would dangle when
  // a caller frees the datagram between a no-op handshake() and read(). Feeding again before it
  // was consumed replaces it (dropped_unconsumed); a larger datagram is dropped (dropped_oversize).
  void feed(std::span<const uint8_t> datagram, uint64_t now_ms);

  enum class Hs { in_progress, done, failed };
  // Drives the handshake as far as the fed data allows, sending flights through OutputFn. Once
  // failed, last_error() says why in one line ("certificate verify failed: not trusted by the CA",
  // "...: certificate expired", "...: name mismatch (expected x)", "handshake timeout",
  // "peer sent alert: unknown_ca", ...). done and failed are final.
  Hs handshake(uint64_t now_ms);
  bool established() const { return hs_ == Hs::done && !dead_; }

  // Returns ONE application record: its length (>0) written to out, 0 when no (more) authentic
  // record is available (including records dropped as replayed, forged or from a wrong epoch:
  // see stats()). Call it until it returns 0 after each feed(). Errors, after which the
  // association is dead: Errc::closed (close_notify received, or - server - the client restarted
  // and sent a ClientHello with a valid cookie from the same address: drop the session and hand
  // the same datagram to CookieGuard::check, which will say ok), Errc::protocol (fatal alert or
  // protocol violation), Errc::auth/timeout/... (the handshake failed; same as last_error()). If
  // the handshake is still in progress, drives it first (returns 0 while it is). `cap` should be
  // >= max_plaintext() of the peer: a longer record is dropped (dropped_oversize), never truncated.
  Result<size_t> read(uint8_t* out, size_t cap, uint64_t now_ms);

  // Encrypts one record (plaintext.size() <= max_plaintext()) and emits it as one datagram.
  // Errors: Errc::invalid_argument (too long), Errc::closed (not established or dead),
  // Errc::protocol (mbedTLS failure).
  Result<void> write(std::span<const uint8_t> plaintext, uint64_t now_ms);

  // Absolute deadline (ms, same clock as now_ms) of the handshake retransmission timer, or
  // UINT64_MAX when none is armed. When it passes, call on_timeout(): it retransmits the last
  // flight, or fails the handshake with "handshake timeout" after hs_timeout_max_ms.
  uint64_t next_timeout() const;
  void on_timeout(uint64_t now_ms);

  // Sends a close_notify alert (best effort) and marks the session dead.
  void close_notify(uint64_t now_ms);

  // ---- fast path: application data in place (see the top of this file) ----------------------
  // True once established with the keys of the handshake (and until dead). Before that, seal()
  // fails and open_begin() says slow.
  bool fast_path_ready() const { return prot_ != nullptr && hs_ == Hs::done && !dead_; }
  // Bytes seal() writes before the plaintext: 13-byte header + 8-byte explicit nonce for AES-GCM,
  // 13 for ChaCha20-Poly1305; kMaxSealHeadroom (21) before fast_path_ready(). A buffer that keeps
  // kMaxSealHeadroom free in front fits every suite.
  size_t seal_headroom() const;
  // Bytes seal() writes after the plaintext: the 16-byte tag.
  static constexpr size_t seal_tailroom() { return kRecordTagLen; }

  // Seals one application-data record in place. The caller owns the buffer: `plaintext` points
  // at `len` bytes, with seal_headroom() writable bytes before it and seal_tailroom() after. On
  // success the returned span is the record, [plaintext - seal_headroom(), plaintext + len +
  // seal_tailroom()), ready to send as one datagram (or packed with others of this session); the
  // plaintext is overwritten by ciphertext. Uses the next outgoing epoch-1 sequence number (shared
  // with write()). Errors, nothing written: Errc::closed (not fast_path_ready()),
  // Errc::invalid_argument (len > max_plaintext()), Errc::limit (the 2^48 sequence numbers spent:
  // rekey by a new handshake).
  Result<std::span<uint8_t>> seal(uint8_t* plaintext, size_t len);
  // The same, but the AEAD work is left to whoever sends the record (PendingSeal in
  // record_protection.hpp): the sequence number is taken and the stats count it now, *later says
  // how to seal it (record_off 0: relative to the record's start; the caller adds its own
  // prefix), and no byte is written. The returned span is where the record will be.
  Result<std::span<uint8_t>> seal_later(uint8_t* plaintext, size_t len, PendingSeal* later);

  // Looks at one received datagram, touching no byte. fast: every record in it is application
  // data (up to the first malformed one) and the session is fast_path_ready(); *cursor is set
  // and the caller calls open_next() until it returns false (the datagram must stay alive and
  // unmoved meanwhile). slow: a handshake, CCS or alert record, no keys yet, the session is dead,
  // or mbedTLS still holds unread input: the caller hands the same datagram to feed() and calls
  // read() until it returns 0 or an error, exactly as without the fast path. Counts
  // datagrams_in_fast for fast datagrams.
  DatagramPath open_begin(std::span<uint8_t> datagram, RecordCursor* cursor);
  // Opens the next record of a fast datagram in place: true with *plaintext pointing at its
  // plaintext inside the datagram (valid as long as the datagram buffer), false when the datagram
  // holds no more. Replayed, forged or tampered records, wrong epochs, truncated records and
  // lying lengths are dropped and counted in stats() (dropped_replay_or_auth, dropped_bad_mac,
  // dropped_malformed, dropped_oversize); a lying length drops the rest of the datagram.
  bool open_next(RecordCursor& cursor, std::span<uint8_t>* plaintext);

  // ---- snapshots, for the fuzz harnesses (DtlsSnapshot) -------------------------------------
  // Call before the handshake: the fast path's keys are kept for snapshot() (otherwise they are
  // never stored outside their AEAD contexts).
  void keep_keys_for_snapshot() { keep_keys_ = true; }
  // Freezes an established session with nothing in flight (both sides have sent a record of the
  // new epoch). mbedTLS resets this session doing so: it is unusable afterwards.
  Result<DtlsSnapshot> snapshot();
  // Loads a snapshot into a freshly constructed session of the same role and configuration
  // (before any other call): it is then established, as the snapshotted one was.
  Result<void> restore(const DtlsSnapshot& snap);

  size_t max_plaintext() const;    // record payload limit (after the handshake)
  size_t record_overhead() const;  // bytes added per record: 13 header + 8 nonce + 16 tag for GCM
  std::string peer_common_name() const { return peer_cn_; }  // CN of the verified peer cert
  // Serial (INTEGER content octets) of the verified peer cert, for revocation after the fact.
  const std::string& peer_serial() const { return peer_serial_; }
  // notAfter of the verified peer cert, seconds since the epoch (0: none, or a restored snapshot).
  int64_t peer_not_after() const { return peer_not_after_; }
  // SHA-256 of the verified peer certificate's DER, for `[[peer]] fingerprint` pins (nullopt before
  // the handshake, or with no peer certificate).
  const std::optional<Fingerprint>& peer_fingerprint() const { return peer_fingerprint_; }
  std::string ciphersuite() const;                           // e.g. TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256
  std::string last_error() const { return error_; }
  DtlsStats stats() const;
  bool is_server() const { return config_->is_server(); }

 private:
  static int bio_send(void* ctx, const unsigned char* buf, size_t len);
  static int bio_recv(void* ctx, unsigned char* buf, size_t len);
  static void timer_set(void* ctx, uint32_t int_ms, uint32_t fin_ms);
  static int timer_get(void* ctx);
  static void export_keys(void* ctx, mbedtls_ssl_key_export_type type, const unsigned char* secret,
                          size_t secret_len, const unsigned char client_random[32],
                          const unsigned char server_random[32], mbedtls_tls_prf_types prf);

  Hs fail(Errc code, std::string why);
  Error handshake_error(int ret);
  void on_established();
  void settle_drop_accounting();
  void start_fast_path();
  // Fuzz builds only (PTUN_FUZZ_SNAPSHOT_REUSE, dtls_snapshot_reuse.cpp; no-ops elsewhere): the
  // mbedTLS objects a restore() built are parked when the session ends intact and handed to the
  // next restore() of the same snapshot, skipping the key derivation and certificate parse.
  bool reuse_restored(const DtlsSnapshot& snap);
  void keep_for_reuse(const DtlsSnapshot& snap);
  bool park_for_reuse();
  // Also fuzz builds only: the fresh context that reuse_restored() replaces (as mbedtls_ssl_setup
  // left it, ~33 KiB of zeroed record buffers and the handshake state) is kept for the next
  // session's constructor instead of being freed and set up again.
  bool take_setup_context();

  std::shared_ptr<DtlsConfig> config_;
  OutputFn out_;
  void* out_ctx_;
  mbedtls_ssl_context ssl_;
  bool setup_ok_ = false;
  Hs hs_ = Hs::in_progress;
  bool dead_ = false;
  Errc dead_code_ = Errc::ok;
  std::string error_;
  std::string hostname_;
  std::vector<uint8_t> client_id_;
  std::string peer_cn_;
  std::string peer_serial_;
  int64_t peer_not_after_ = 0;
  std::optional<Fingerprint> peer_fingerprint_;

  std::vector<uint8_t> pending_;  // the fed datagram, until mbedTLS's BIO reads it
  bool has_pending_ = false;

  uint64_t now_ms_ = 0;
  bool timer_armed_ = false;
  uint64_t timer_int_at_ = 0;
  uint64_t timer_fin_at_ = 0;

  // The handshake's master secret, from export_keys until on_established derives the record keys
  // (the suite is known only then); zeroized after.
  std::array<uint8_t, 48> master_{};
  std::array<uint8_t, 32> client_random_{}, server_random_{};
  mbedtls_tls_prf_types prf_ = MBEDTLS_SSL_TLS_PRF_NONE;
  bool have_master_ = false;
  std::shared_ptr<RecordProtection> prot_;  // the fast path's keys, once established (shared
                                            // with records waiting to be sealed)
  uint16_t key_epoch_ = 0;                  // the epoch prot_'s keys protect (1)
  size_t max_plaintext_ = 0;                // cached at on_established (seal checks it per record)
  uint64_t fast_bad_mac_ = 0;
  bool keep_keys_ = false;                  // keep_keys_for_snapshot()
  std::unique_ptr<RecordKeys> kept_keys_;   // the fast path's keys, for snapshot()
  bool reuse_loan_ = false;                 // ssl_'s objects belong to a reuse slot (fuzz builds)

  DtlsStats stats_;
  uint64_t app_records_fed_ = 0;       // application records handed to mbedTLS since last settle
  uint64_t app_records_returned_ = 0;  // of those, returned by read()
};

}  // namespace ptun::tls
