// Which transport the client's session uses, UDP or the TCP fallback (docs/protocol.md §7),
// sans-I/O: the client reports what happened and asks next() what to do; the I/O is its own.
//
//   udp, handshaking: no datagram from the server within fallback_ms        -> fall_back
//   udp, established: sent since the last authentic record, and quiet for
//                     ping_ms -> ping (at most one per ping_ms); fallback_ms -> fall_back
//   tcp, established: every probe_ms -> probe_udp (an authenticated PING over UDP)
//   tcp: an authentic record arrived over UDP (udp_answered)                 -> back on udp
//
// A transport that failed soon after a return (within 4 x fallback_ms) doubles the probe
// interval (up to 16x): a path that lets a probe through but not a transfer does not flap.
#pragma once
#include <cstdint>

namespace ptun::proto {

enum class Transport : uint8_t { udp, tcp };
const char* to_string(Transport t);

struct TransportParams {
  bool tcp_enabled = true;
  uint32_t fallback_ms = 5000;   // UDP silence that sends the session over TCP
  uint32_t ping_ms = 1000;       // UDP silence (while sending) that asks for a PING
  uint32_t probe_ms = 30000;     // on TCP: how often UDP is tried again
};

class TransportChoice {
 public:
  enum class Action : uint8_t { none, ping, fall_back, probe_udp };
  // What the client's session looks like now (ClientSession::state() and stats()).
  struct View {
    bool established = false;
    uint64_t last_rx_ms = 0, last_tx_ms = 0;
  };

  explicit TransportChoice(const TransportParams& p = {}) : p_(p) {}
  Transport transport() const { return t_; }

  // A new session (handshake) starts on `t`.
  void attempt_started(Transport t, uint64_t now);
  // Any datagram from the server on the current transport (authentic or not): the handshake
  // is answered, so it is not the transport's fault if it fails.
  void heard(uint64_t now);
  // The established session moved to TCP (after fall_back) / back to UDP.
  void switched(Transport t, uint64_t now);
  // What to do now; `ping`, `fall_back` and `probe_udp` are returned once per occasion.
  Action next(uint64_t now, const View& v);
  // When next() may return something other than none (UINT64_MAX: never).
  uint64_t deadline(const View& v) const;

  uint64_t fallbacks() const { return fallbacks_; }
  uint64_t returns() const { return returns_; }
  uint32_t probe_interval_ms() const { return probe_ms_cur_ ? probe_ms_cur_ : p_.probe_ms; }

 private:
  uint64_t quiet_since(const View& v) const;

  TransportParams p_;
  Transport t_ = Transport::udp;
  uint64_t started_ms_ = 0, switched_ms_ = 0, last_ping_ms_ = 0, next_probe_ms_ = UINT64_MAX;
  uint64_t returned_ms_ = 0;
  bool heard_ = false, fell_back_ = false;
  uint32_t probe_ms_cur_ = 0;
  uint64_t fallbacks_ = 0, returns_ = 0;
};

}  // namespace ptun::proto
