// Every session of one ptun server, sans-I/O: (source endpoint, datagram, now) in; datagrams,
// packets and events out through Callbacks; next_deadline() for the caller's one timer.
//
//   datagram -> outer header -> session id known?
//     yes, same address ............ feed its DtlsSession -> records -> packets / control
//     yes, other address ........... roaming: fed to the session; an authentic record makes the
//                                    address a candidate, challenged with a PING; the session
//                                    moves (on_roamed) when the PONG comes back from there
//     no, ClientHello .............. CookieGuard (stateless, reply <= request) -> cookie ok ->
//                                    session/per-source half-open/rate limits -> table full?
//                                    evict the oldest half-open one -> new DtlsSession
//     no, anything else ............ dropped, counted
//   session: handshaking -> waiting_hello -(CLIENT_HELLO, authorize)-> established -> closed
//
// Callbacks run synchronously; they may call send_packet/close_session/close_all, but must not
// destroy the ServerEndpoint. Attacker-triggerable events are counted, never logged unlimited.
#pragma once
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/fingerprint.hpp"
#include "common/log.hpp"
#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "proto/deadline_heap.hpp"
#include "proto/messages.hpp"
#include "proto/rate_limiter.hpp"
#include "proto/session_stats.hpp"
#include "proto/settings.hpp"
#include "tls/dtls_session.hpp"

namespace ptun::proto {

enum class ServerSessionState : uint8_t { handshaking, waiting_hello, established };
const char* to_string(ServerSessionState s);

// Endpoint-wide drop counters, by cause (per-session causes live in SessionStats).
struct ServerCounters {
  uint64_t datagrams_in = 0;
  uint64_t bad_header = 0;          // shorter than the header + 1, or session id 0
  uint64_t unknown_version = 0;     // outer version != 1
  uint64_t unknown_kind = 0;        // outer kind != 0
  uint64_t unknown_session = 0;     // no session with that id and not a ClientHello
  uint64_t unknown_session_hints = 0;  // "unknown session" hints sent back (rate-limited)
  uint64_t not_client_hello = 0;    // looked like one, CookieGuard disagreed
  uint64_t malformed_hello = 0;     // CookieGuard: malformed ClientHello
  uint64_t cookie_sent = 0;         // HelloVerifyRequests sent (no or bad cookie)
  uint64_t cookie_reply_dropped = 0;// HelloVerifyRequest not sent (would not fit / be larger)
  uint64_t session_limit = 0;       // cookie ok, but max_sessions reached
  uint64_t half_open_limit = 0;     // cookie ok, but max_half_open reached and none old enough to evict
  uint64_t half_open_source_limit = 0;  // cookie ok, but the source has max_half_open_per_source
  uint64_t half_open_evicted = 0;   // the oldest half-open session, dropped to admit a new one
  uint64_t rate_limited = 0;        // cookie ok, but the source exceeded per_source_hs_per_sec
  uint64_t session_collision = 0;   // a ClientHello for a live session id (another client, or a replay)
  uint64_t roam_refused = 0;        // another address before the session was established
  uint64_t roam_unauthenticated = 0;// another address, but no authentic record: session not moved
  uint64_t roam_challenges = 0;     // PINGs sent to a new address to validate it before moving
  uint64_t roam_budget_exceeded = 0;// a send to an unvalidated address refused: over 3x its bytes in
  uint64_t replay_or_auth = 0;      // a datagram for a known session yielding no authentic record
  uint64_t handshake_failed = 0;
  uint64_t handshake_timeout = 0;   // half-open sessions expired
  uint64_t sessions_created = 0;
  uint64_t sessions_established = 0;
  uint64_t refused = 0;             // authorize() said no
};

struct SessionInfo {
  uint64_t id = 0;
  std::string peer_cn;
  std::string peer_serial;  // raw INTEGER octets of the verified certificate
  int64_t peer_not_after = 0;  // its notAfter, seconds since the epoch (0: unknown)
  uint64_t created_ms = 0;     // the cookie-verified ClientHello that started the handshake
  std::optional<Fingerprint> peer_fingerprint;  // SHA-256 of its DER (nullopt: not known)
  Endpoint endpoint;
  ServerSessionState state = ServerSessionState::handshaking;
  SessionStats stats;
  std::string ciphersuite;
};

class ServerEndpoint {
 public:
  struct Callbacks {
    virtual ~Callbacks() = default;
    // The whole UDP payload including the outer header. Valid only during the call: copy now.
    virtual void send_datagram(const Endpoint& to, std::span<const uint8_t> dgram) = 0;
    // The same for a datagram whose record is not sealed yet (send_packet_in_place): `seal` must
    // run on its bytes before they leave. The pipeline seals it (on its tx thread when that is
    // on); this default seals now and sends.
    virtual void send_datagram_sealing(const Endpoint& to, std::span<uint8_t> dgram, tls::PendingSeal&& seal) {
      seal.seal_now(dgram.data());
      send_datagram(to, dgram);
    }
    // One decrypted inner IP packet (first nibble 4 or 6, not validated further: the app checks
    // anti-spoofing and routes it). Valid only during the call.
    virtual void deliver_packet(uint64_t session_id, std::span<const uint8_t> ip) = 0;
    // After the handshake and CLIENT_HELLO: map the verified certificate CN to a peer and assign
    // addresses. An Error refuses the session: the client gets CLOSE(*refuse_reason, error text);
    // *refuse_reason starts as auth_refused. Errc::would_block defers the answer (addresses from a
    // shared store): the session waits, half-open, until complete_authorize(); resent CLIENT_HELLOs
    // are ignored meanwhile, and the handshake timeout still applies.
    virtual Result<NetworkSettings> authorize(uint64_t session_id, const std::string& peer_cn,
                                              const ClientHello& hello, CloseReason* refuse_reason) = 0;
    virtual void on_established(uint64_t session_id, const std::string& peer_cn, const Endpoint& from) = 0;
    virtual void on_roamed(uint64_t session_id, const Endpoint& from) = 0;
    // Only for sessions that reached on_established (half-open ones vanish silently, counted).
    // `final_stats`: the session's counters at the end (session() no longer knows it).
    virtual void on_closed(uint64_t session_id, CloseReason reason, const SessionStats& final_stats) = 0;
    // The wall clock (seconds since the epoch) for SETTINGS' server-time TLV; 0: not sent.
    virtual int64_t wall_time() { return 0; }
  };
  struct Limits {
    uint32_t max_sessions = 4096, max_half_open = 256;
    // Half-open sessions per source address (IPv6: per /64): a few sources replaying a valid
    // cookie must not fill the whole table. 0 = off.
    uint32_t max_half_open_per_source = 16;
    // When the table is full, the oldest half-open session is evicted for a new one, but only if
    // it is at least this old: a real handshake takes a few round trips, an attacker's never ends.
    uint32_t half_open_evict_age_ms = 1000;
    uint32_t handshake_timeout_ms = 10000;  // cookie-verified ClientHello to SETTINGS sent
    uint32_t per_source_hs_per_sec = 20;    // new sessions per source address (IPv6: per /64); 0 = off
    uint32_t max_rate_sources = 65536;      // bound of the rate limiter's table
    uint32_t unknown_session_hints_per_sec = 100;  // kind-1 hints, all sources together
  };

  // `config` must be a server DtlsConfig; its cookie_guard() screens ClientHellos (the sessions
  // verify cookies with the same key). `cb` must outlive the endpoint.
  ServerEndpoint(std::shared_ptr<tls::DtlsConfig> config, Callbacks& cb, const Limits& limits);
  ~ServerEndpoint();
  ServerEndpoint(const ServerEndpoint&) = delete;
  ServerEndpoint& operator=(const ServerEndpoint&) = delete;

  void on_datagram(const Endpoint& from, std::span<const uint8_t> udp_payload, uint64_t now_ms);
  // The same for a datagram in a writable buffer: application records of an established session
  // are opened in place (DtlsSession's fast path) and deliver_packet gets spans inside `udp_payload`
  // (the caller may adopt the buffer); everything else takes on_datagram's path.
  void on_datagram_in_place(const Endpoint& from, std::span<uint8_t> udp_payload, uint64_t now_ms);
  // Encrypt one IP packet to an established session. False (counted in its stats) if there is
  // no such established session, the packet exceeds one record, or the write failed.
  bool send_packet(uint64_t session_id, std::span<const uint8_t> ip, uint64_t now_ms);
  // The same, sealed in place: `ip` has `head` writable bytes before it and `tail` after it, and
  // send_datagram_sealing gets the datagram (outer header + record to seal) inside that buffer.
  // Falls back to send_packet's copying path when the room is short or the session has no fast
  // path (yet).
  bool send_packet_in_place(uint64_t session_id, std::span<uint8_t> ip, size_t head, size_t tail, uint64_t now_ms);
  // Sends CLOSE(reason, text) + close_notify and forgets the session (on_closed if it was
  // established). False if there is no such session.
  bool close_session(uint64_t session_id, CloseReason reason, uint64_t now_ms, const std::string& text = "");
  // The answer to an authorize() that returned Errc::would_block: settings (SETTINGS sent, the
  // session established) or an Error (refused with `refuse_reason`). False, and nothing done, if
  // the session is gone (closed, timed out, evicted) or was not waiting.
  bool complete_authorize(uint64_t session_id, Result<NetworkSettings> settings, CloseReason refuse_reason,
                          uint64_t now_ms);
  void close_all(CloseReason reason, uint64_t now_ms);

  // For the fuzz harnesses: a session `id` from `from` whose DTLS association is restored from a
  // snapshot (tls::DtlsSnapshot) instead of handshaken, left where a handshake would leave it
  // (half-open, waiting for CLIENT_HELLO). False if the id is taken, the table is full or the
  // snapshot does not load.
  bool adopt_snapshot(const Endpoint& from, uint64_t id, const tls::DtlsSnapshot& snap, uint64_t now_ms);
  // For the fuzz harnesses too: back to the state the constructor left, every session dropped
  // without a word (no callback, nothing sent); the record buffers keep their memory. Not from
  // inside a callback.
  void reset();

  // O(1); may be earlier than needed (a stale timer entry), never later.
  uint64_t next_deadline() const { return timers_.top(); }
  void on_timer(uint64_t now_ms);

  size_t session_count() const { return sessions_.size(); }
  size_t half_open_count() const { return half_open_.size(); }
  const ServerCounters& counters() const { return counters_; }
  std::optional<SessionInfo> session(uint64_t session_id) const;
  std::vector<SessionInfo> sessions() const;  // for `ptun sessions` (allocates; not the data path)
  // Largest IP packet send_packet() accepts for this session (0 if none/not established).
  size_t max_packet(uint64_t session_id) const;

 private:
  struct Session;
  static void output_thunk(void* ctx, std::span<const uint8_t> datagram);
  void emit(Session& s, std::span<const uint8_t> datagram);

  // server_endpoint.cpp: admission and timers.
  void hint_unknown_session(const Endpoint& from, uint64_t id, uint64_t now);
  void admit(const Endpoint& from, uint64_t id, std::span<const uint8_t> dtls, uint64_t now);
  void schedule(Session& s);
  uint64_t session_deadline(const Session& s) const;
  void session_timer(Session& s, uint64_t now);
  void reap();
  // Half-open bookkeeping (creation order, count per source), named after the events.
  void half_open_started(Session& s);
  void half_open_ended(Session& s);
  bool evict_oldest_half_open(uint64_t now);
  // A half-open session of peer `from` with its DTLS session (not yet in any table).
  std::unique_ptr<Session> new_session(const Endpoint& from, uint64_t id, uint64_t now);

  // server_session.cpp: one session's records.
  void ingress(const Endpoint& from, std::span<const uint8_t> p, bool writable, uint64_t now);
  // `writable`: `dtls` lies in a buffer the caller let us modify (on_datagram_in_place).
  void session_ingress(Session& s, std::span<const uint8_t> dtls, const Endpoint& from, bool writable, uint64_t now);
  void step_handshake(Session& s, uint64_t now);
  void handle_record(Session& s, std::span<const uint8_t> rec, uint64_t now);
  void handle_control(Session& s, std::span<const uint8_t> rec, uint64_t now);
  void handle_client_hello(Session& s, std::span<const uint8_t> rec, uint64_t now);
  void answer_hello(Session& s, Result<NetworkSettings> settings, CloseReason refuse, uint64_t now);
  bool send_settings(Session& s, uint64_t now);
  bool write_record(Session& s, std::span<const uint8_t> rec, uint64_t now);
  // Return routability of a new address (PathCheck in server_session.hpp).
  void path_seen(Session& s, const Endpoint& from, size_t datagram_bytes);
  void challenge_path(Session& s, uint64_t now);
  void probe_rtt(Session& s, uint64_t now);
  void path_validated(Session& s);
  bool write_on_path(Session& s, std::span<const uint8_t> rec, uint64_t now);  // to s.path->addr, budgeted
  // Sends CLOSE (if DTLS is up and send_close), removes the session, fires on_closed if it was
  // established. The Session object lives on in graveyard_ until the outermost call returns.
  void end_session(Session& s, CloseReason reason, bool send_close, const std::string& text, uint64_t now);
  SessionInfo info(const Session& s) const;

  // Frees graveyard_ when the outermost public call returns (callbacks may re-enter).
  struct Depth {
    ServerEndpoint& e;
    explicit Depth(ServerEndpoint& ep) : e(ep) { ++e.depth_; }
    ~Depth() {
      if (--e.depth_ == 0) e.reap();
    }
  };

  std::shared_ptr<tls::DtlsConfig> config_;
  tls::CookieGuard* cookies_;
  Callbacks& cb_;
  Limits limits_;
  std::unordered_map<uint64_t, std::unique_ptr<Session>> sessions_;
  std::vector<std::unique_ptr<Session>> graveyard_;
  std::list<Session*> half_open_;  // oldest first; a Session knows its own position
  std::unordered_map<IpAddr, uint32_t, IpAddrHash> half_open_by_source_;
  int depth_ = 0;
  DeadlineHeap timers_;
  std::vector<DeadlineHeap::Entry> due_;  // scratch for on_timer, reused
  SourceRateLimiter rate_;
  ServerCounters counters_;
  log::RateLimit log_limit_;
  uint64_t hint_window_ms_ = 0;
  uint32_t hints_in_window_ = 0;
  uint64_t path_challenges_ = 0;  // challenge values: unique per endpoint (the PONG is authenticated)
  uint64_t rtt_probes_ = 0;       // RTT probe values (tagged with the top bit)
  // Shared by all sessions (single-threaded): tx_ has the outer header's room in front.
  std::vector<uint8_t> tx_, rx_;
};

}  // namespace ptun::proto
