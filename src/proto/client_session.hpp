// The client side of one ptun session, sans-I/O: datagrams and `now` in, datagrams and events out
// through Callbacks, next_deadline() for the caller's timer.
//
//   start() -> handshaking --DTLS done--> waiting_settings --SETTINGS--> established
//                  |  (CLIENT_HELLO sent,        |  (resent with backoff         |
//                  |   retried)                  |   until SETTINGS arrive)      |
//                  +------------------+----------+-------------------------------+--> closed
//   closed: on_closed(reason, detail) fires exactly once per start(), whoever closed it.
//
// Rekeying (proto/rekey.hpp): while established, a second session (next_, a nested ClientSession
// whose CLIENT_HELLO names this one in rekey_of) handshakes beside the current one. When its
// SETTINGS equal ours, its keys and id become ours (the state stays established, no callback but
// on_rekeyed); the old keys are still accepted for grace_ms, then closed with CLOSE(rekeyed).
// Different SETTINGS: the session closes (reason none) so the caller reconnects. A failed attempt
// leaves the current keys working and is retried after retry_ms.
//
// Callbacks run synchronously from inside on_datagram/on_timer/send_packet/close/start. They may
// call close() or start() (e.g. to reconnect), but must not destroy the ClientSession.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/rng.hpp"
#include "proto/messages.hpp"
#include "proto/rekey.hpp"
#include "proto/session_stats.hpp"
#include "proto/settings.hpp"
#include "tls/dtls_session.hpp"

namespace ptun::proto {

struct ClientParams {
  uint32_t handshake_timeout_ms = 30000;  // start() to SETTINGS; then closed(handshake_timeout)
  uint32_t hello_retry_ms = 1000;         // first CLIENT_HELLO resend; doubles up to 8 s
  bool want_ipv4 = true, want_ipv6 = true;
  RekeyParams rekey;
};

class ClientSession {
 public:
  struct Callbacks {
    virtual ~Callbacks() = default;
    // The whole UDP payload including the outer header. Valid only during the call: copy now.
    virtual void send_datagram(std::span<const uint8_t> dgram) = 0;
    // The same for a datagram whose record is not sealed yet (send_packet_in_place): `seal` must
    // run on its bytes before they leave. The pipeline seals it (on its tx thread when that is
    // on); this default seals now and sends.
    virtual void send_datagram_sealing(std::span<uint8_t> dgram, tls::PendingSeal&& seal) {
      seal.seal_now(dgram.data());
      send_datagram(dgram);
    }
    // One decrypted inner IP packet. Valid only during the call: copy now.
    virtual void deliver_packet(std::span<const uint8_t> ip) = 0;
    virtual void on_established(const NetworkSettings& settings) = 0;
    // detail: the TLS error text, the server's CLOSE text, or a description of the timeout.
    virtual void on_closed(CloseReason reason, const std::string& detail) = 0;
    // The session now transmits with fresh keys under session_id() (stats().rekeys counts them).
    virtual void on_rekeyed() {}
  };
  enum class State { idle, handshaking, waiting_settings, established, closed };

  // `config` must be a client DtlsConfig; `server_name` is the CN/SAN the server certificate must
  // carry. `rng` (session ids) and `cb` must outlive the session.
  ClientSession(std::shared_ptr<tls::DtlsConfig> config, std::string server_name, std::string software_version,
                Rng& rng, Callbacks& cb, const ClientParams& params = {});
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  // Begin a new session: fresh random session id, fresh DTLS state, first ClientHello flight.
  // Any previous session is abandoned without a CLOSE (call close() first to send one).
  void start(uint64_t now_ms);
  // For the fuzz harnesses: start() with a restored DTLS association (tls::DtlsSnapshot) in place
  // of a handshake, so the session is at once where a handshake would have left it (CLIENT_HELLO
  // sent, waiting for SETTINGS). Closed (handshake_failed) if the snapshot does not load.
  void start_from_snapshot(const tls::DtlsSnapshot& snap, uint64_t now_ms);
  // One UDP payload from the server. Datagrams with another session id are dropped and counted.
  void on_datagram(std::span<const uint8_t> udp_payload, uint64_t now_ms);
  // The same for a datagram in a writable buffer: application records are opened in place
  // (DtlsSession's fast path) and deliver_packet gets spans inside `udp_payload` (the caller may
  // adopt the buffer); everything else takes on_datagram's path.
  void on_datagram_in_place(std::span<uint8_t> udp_payload, uint64_t now_ms);
  // Encrypt one IP packet and send it. False (and counted) if not established, larger than one
  // record (max_packet()), or the DTLS write failed.
  bool send_packet(std::span<const uint8_t> ip, uint64_t now_ms);
  // The same, sealed in place: `ip` has `head` writable bytes before it and `tail` after it, and
  // send_datagram_sealing gets the datagram (outer header + record to seal) inside that buffer.
  // Falls back to send_packet's copying path when the room is short or there is no fast path (yet).
  bool send_packet_in_place(std::span<uint8_t> ip, size_t head, size_t tail, uint64_t now_ms);
  // Sends CLOSE(reason) and close_notify if the DTLS session is up, then closes (on_closed fires).
  void close(CloseReason reason, uint64_t now_ms);

  // The earliest time on_timer() has work: DTLS retransmission, handshake timeout, CLIENT_HELLO
  // resend, keepalive PING, dead-peer check. UINT64_MAX if none (idle/closed).
  uint64_t next_deadline() const;
  void on_timer(uint64_t now_ms);
  // The client's path changed (new socket / source address): sends a PING at once if established,
  // so the server learns the new address from an authenticated datagram (roaming, §6) and the
  // PONG tells the caller the path works. No-op in any other state.
  void on_path_changed(uint64_t now_ms);

  State state() const { return state_; }
  uint64_t session_id() const { return session_id_; }
  const SessionStats& stats() const { return stats_; }
  const NetworkSettings& settings() const { return settings_; }
  // The server's clock in its SETTINGS (seconds since the epoch; 0: an older server that does not
  // send it) and when they arrived (this session's clock, ms): the caller turns them into a skew.
  int64_t server_time() const { return server_time_; }
  uint64_t settings_at_ms() const { return settings_at_ms_; }
  CloseReason close_reason() const { return close_reason_; }
  // Largest IP packet send_packet() accepts (0 before the handshake).
  size_t max_packet() const;
  // Bytes DTLS adds to each record of the negotiated suite (0 before the handshake).
  size_t record_overhead() const;
  std::string ciphersuite() const;
  // Rekeying: an attempt is under way / old keys are still accepted (their session id, else 0).
  bool rekeying() const { return next_ != nullptr; }
  uint64_t old_session_id() const { return old_dtls_ ? old_id_ : 0; }

 private:
  struct NextLink;  // next_'s Callbacks: into this session
  static void old_output_thunk(void* ctx, std::span<const uint8_t> datagram);
  void emit_as(uint64_t id, std::span<const uint8_t> datagram);
  // Rekeying (client_rekey.cpp).
  void start_rekey(uint64_t now);
  void rekey_established(const NetworkSettings& s);
  void rekey_failed(CloseReason reason, const std::string& detail);
  void old_ingress(std::span<const uint8_t> p, uint64_t now);
  void close_old(uint64_t now);
  void rekey_timers(uint64_t now);   // from on_timer, established
  uint64_t rekey_deadline() const;
  void drop_rekey_state(uint64_t now, bool send_close);   // session ends or restarts
  static void output_thunk(void* ctx, std::span<const uint8_t> datagram);
  void emit(std::span<const uint8_t> datagram);
  void reset_for_start(uint64_t now);  // start()'s fresh state, up to the new DtlsSession
  void drive_handshake(uint64_t now);
  void on_handshake_done(uint64_t now);
  void handle_record(std::span<const uint8_t> rec, uint64_t now);
  void handle_control(std::span<const uint8_t> rec, uint64_t now);
  void handle_settings(std::span<const uint8_t> rec, uint64_t now);
  bool write_record(std::span<const uint8_t> rec, uint64_t now);
  void send_client_hello(uint64_t now);
  void send_ping(uint64_t now);
  // Sends CLOSE(reason, detail) + close_notify if DTLS is up, then finish().
  void abort_session(CloseReason reason, const std::string& detail, uint64_t now);
  // Enter `closed` and fire on_closed (once).
  void finish(CloseReason reason, const std::string& detail);
  uint64_t next_ping_at() const;
  uint64_t dead_at() const;

  std::shared_ptr<tls::DtlsConfig> config_;
  std::string server_name_, software_version_;
  Rng& rng_;
  Callbacks& cb_;
  ClientParams params_;

  std::unique_ptr<tls::DtlsSession> dtls_;
  std::unique_ptr<tls::DtlsSession> retired_;  // replaced by start() from inside a callback
  // Rekeying: the attempt (nested session), the replaced keys in their grace, and what is freed
  // outside the calls that retired them.
  std::unique_ptr<NextLink> link_;
  std::unique_ptr<ClientSession> next_, next_retired_;
  std::unique_ptr<tls::DtlsSession> old_dtls_, old_retired_;
  uint64_t old_id_ = 0, old_until_ = UINT64_MAX;
  uint64_t rekey_of_ = 0;  // set on a nested session: the id it replaces (CLIENT_HELLO TLV)
  RekeySchedule rekey_;
  uint64_t now_ = 0;       // of the current entry point, for next_'s callbacks
  State state_ = State::idle;
  CloseReason close_reason_ = CloseReason::none;
  uint64_t gen_ = 0;  // bumped by start() and finish(): loops stop if a callback changed it
  uint64_t session_id_ = 0;
  uint64_t started_ms_ = 0;
  uint64_t hello_retry_at_ = UINT64_MAX;
  uint32_t hello_backoff_ms_ = 0;
  uint64_t last_ping_ms_ = 0;
  uint64_t ping_seq_ = 0;
  SettingsAssembler assembler_;
  NetworkSettings settings_;
  int64_t server_time_ = 0;
  uint64_t settings_at_ms_ = 0;
  SessionStats stats_;
  // tx_: outer header written in place in front of the DTLS datagram (no second copy).
  std::vector<uint8_t> tx_, rx_;
};

const char* to_string(ClientSession::State s);

}  // namespace ptun::proto
