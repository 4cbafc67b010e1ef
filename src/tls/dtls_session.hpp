// One DTLS 1.2 association over memory (sans-I/O): no sockets, no clock, no threads.
//
//   network -> feed(datagram, now) -> handshake(now) / read(out, now) -> plaintext records
//   plaintext -> write(record, now) -> OutputFn(datagram)              -> network
//   timer: next_timeout() -> caller's timer -> on_timeout(now)         (handshake retransmission)
//
// mbedTLS's BIO reads the one datagram handed to feed() and writes through OutputFn; its timer
// callbacks read the `now_ms` of the call in progress. A session is neither copyable nor movable
// (mbedTLS holds pointers to it); keep it behind a unique_ptr.
#pragma once
#include <mbedtls/ssl.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "tls/dtls_config.hpp"

namespace ptun::tls {

struct DtlsStats {
  uint64_t datagrams_in = 0;            // handed to mbedTLS
  uint64_t datagrams_out = 0;           // emitted through OutputFn (handshake and records)
  uint64_t records_in = 0;              // application records returned by read()
  uint64_t records_out = 0;             // application records written by write()
  uint64_t dropped_replay_or_auth = 0;  // application records mbedTLS discarded (replay, bad MAC,
                                        // wrong epoch, during handshake)
  uint64_t dropped_bad_mac = 0;         // of which failed authentication (mbedTLS badmac_seen)
  uint64_t dropped_unconsumed = 0;      // fed datagrams replaced by the next feed() before use
  uint64_t dropped_oversize = 0;        // records larger than read()'s cap, or datagrams > buffer
  uint64_t hello_verify_sent = 0;       // ClientHellos without a valid cookie answered by the session
};

class DtlsSession {
 public:
  // Called synchronously from inside feed/handshake/read/write/on_timeout/close_notify with one
  // datagram to send. The span is only valid during the call: copy before returning.
  using OutputFn = void (*)(void* ctx, std::span<const uint8_t> datagram);

  // mbedtls_ssl_setup; a failure there (out of memory) makes handshake() return failed.
  DtlsSession(std::shared_ptr<DtlsConfig> config, OutputFn out, void* ctx);
  ~DtlsSession();
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

  size_t max_plaintext() const;    // record payload limit (after the handshake)
  size_t record_overhead() const;  // bytes added per record: 13 header + 8 nonce + 16 tag for GCM
  std::string peer_common_name() const { return peer_cn_; }  // CN of the verified peer cert
  std::string ciphersuite() const;                           // e.g. TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256
  std::string last_error() const { return error_; }
  DtlsStats stats() const;
  bool is_server() const { return config_->is_server(); }

 private:
  static int bio_send(void* ctx, const unsigned char* buf, size_t len);
  static int bio_recv(void* ctx, unsigned char* buf, size_t len);
  static void timer_set(void* ctx, uint32_t int_ms, uint32_t fin_ms);
  static int timer_get(void* ctx);

  Hs fail(Errc code, std::string why);
  Error handshake_error(int ret);
  void on_established();
  void settle_drop_accounting();

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

  std::vector<uint8_t> pending_;  // the fed datagram, until mbedTLS's BIO reads it
  bool has_pending_ = false;

  uint64_t now_ms_ = 0;
  bool timer_armed_ = false;
  uint64_t timer_int_at_ = 0;
  uint64_t timer_fin_at_ = 0;

  DtlsStats stats_;
  uint64_t app_records_fed_ = 0;       // application records handed to mbedTLS since last settle
  uint64_t app_records_returned_ = 0;  // of those, returned by read()
};

}  // namespace ptun::tls
