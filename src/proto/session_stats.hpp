// Per-session counters shared by ClientSession and the server's sessions (for `ptun status` /
// `ptun sessions`). Plain data; updated on the data path without allocation.
#pragma once
#include <cstdint>

namespace ptun::proto {

struct SessionStats {
  // Inner IP packets (not control messages, not DTLS overhead).
  uint64_t bytes_in = 0, bytes_out = 0, packets_in = 0, packets_out = 0;
  uint64_t rtt_us_last = 0, rtt_us_smoothed = 0;  // from PING/PONG (client side); 0 = no sample
  uint64_t established_at_ms = 0, last_handshake_ms = 0, last_rx_ms = 0, last_tx_ms = 0;
  uint64_t pings_sent = 0, pongs_received = 0, roams = 0;
  uint64_t rekeys = 0, rekey_failures = 0;  // client: keys replaced; attempts that failed or were refused
  // Drops by cause.
  uint64_t drop_bad_header = 0;       // client: bad outer header or another session's id
  uint64_t drop_no_record = 0;        // a datagram that yielded no authenticated record (replay, forgery)
  uint64_t drop_not_established = 0;  // an IP packet before SETTINGS, in either direction
  uint64_t drop_too_big = 0;          // send_packet() larger than one record
  uint64_t drop_malformed = 0;        // a control message that failed to decode
  uint64_t drop_unknown_type = 0;     // unknown control type / first nibble, or empty record
  uint64_t drop_unexpected = 0;       // a valid message in the wrong direction or state
  uint64_t drop_send_error = 0;       // DtlsSession::write failed or its datagram did not fit
};

}  // namespace ptun::proto
