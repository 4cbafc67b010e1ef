// Admission and deadlines of the server's TCP transport (docs/protocol.md §7), sans-I/O.
//
//   accept -> admit(source): total and per-source caps (IPv6: per /64), else refused, counted
//   open connection: until it carries an established session, it must get there within
//   handshake_ms (slow-loris, floods of idle connections); once it does, a frame that has begun
//   must complete within frame_ms (a peer dribbling bytes holds a buffer, nothing more).
#pragma once
#include <cstdint>
#include <unordered_map>

#include "common/net_addr.hpp"

namespace ptun::proto {

struct StreamLimits {
  uint32_t max_connections = 1024;
  uint32_t max_per_source = 8;      // 0: no per-source cap
  uint32_t handshake_ms = 10000;    // accept to an established session on the connection
  uint32_t frame_ms = 10000;        // first byte to last byte of one frame, once established
};

struct StreamCounters {
  uint64_t accepted = 0;
  uint64_t refused_total = 0;       // max_connections reached
  uint64_t refused_source = 0;      // max_per_source reached
  uint64_t handshake_timeouts = 0;  // closed: no established session within handshake_ms
  uint64_t frame_timeouts = 0;      // closed: a frame took longer than frame_ms
  uint64_t tls_failed = 0;          // closed: the TLS handshake or a record failed (garbage, a probe)
  uint64_t bad_preamble = 0, bad_length = 0, truncated = 0;  // closed for garbage inside TLS
  uint64_t closed = 0;              // every connection that ended, whatever the cause
  uint64_t send_dropped = 0;        // datagrams dropped: the connection's send queue was full
};

class StreamGate {
 public:
  enum class Admit : uint8_t { ok, total_limit, source_limit };
  explicit StreamGate(const StreamLimits& l = {}) : l_(l) {}
  Admit admit(const IpAddr& source);   // ok: counted until released
  void release(const IpAddr& source);
  size_t open() const { return open_; }
  const StreamLimits& limits() const { return l_; }
  StreamCounters& counters() { return c_; }
  const StreamCounters& counters() const { return c_; }

 private:
  StreamLimits l_;
  size_t open_ = 0;
  std::unordered_map<IpAddr, uint32_t, IpAddrHash> per_source_;
  StreamCounters c_;
};

// One connection's clock: when it must be closed unless something happens first.
class StreamClock {
 public:
  StreamClock(const StreamLimits& l, uint64_t now) : l_(l), opened_ms_(now) {}
  void established() { established_ = true; }
  bool is_established() const { return established_; }
  // Bytes arrived; `mid_frame`: the deframer holds part of a frame after them.
  void bytes_in(uint64_t now, bool mid_frame);
  enum class Expiry : uint8_t { none, handshake, frame };
  Expiry expired(uint64_t now) const;
  uint64_t deadline() const;

 private:
  StreamLimits l_;
  uint64_t opened_ms_;
  uint64_t frame_started_ms_ = UINT64_MAX;  // UINT64_MAX: between frames
  bool established_ = false;
};

}  // namespace ptun::proto
