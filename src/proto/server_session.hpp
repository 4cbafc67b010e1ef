// Internal to ServerEndpoint: the state of one server-side session. Not part of the public API.
#pragma once
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "proto/server_endpoint.hpp"

namespace ptun::proto {

// Return routability of a new address (docs/protocol.md §6): the session stays on `peer` until an
// authentic PONG echoing `challenge` arrives from `addr`. Until then `addr` gets only PINGs and
// PONGs, and at most kPathBudgetFactor times the bytes that authentic datagrams from it carried.
struct PathCheck {
  Endpoint addr;
  uint64_t challenge = 0;
  uint64_t bytes_in = 0, bytes_out = 0;
  uint64_t last_challenge_ms = 0;
  bool challenged = false;
};

struct ServerEndpoint::Session {
  ServerEndpoint* owner = nullptr;
  uint64_t id = 0;
  Endpoint peer;  // where replies go; moves only to a validated address (roaming, PathCheck)
  std::optional<PathCheck> path;  // a new address seen in an authentic record, not validated yet
  bool rx_on_path = false;        // the records being handled came from path->addr
  bool tx_on_path = false;        // the record being written goes to path->addr
  std::unique_ptr<tls::DtlsSession> dtls;
  ServerSessionState state = ServerSessionState::handshaking;
  bool closed = false;  // removed from sessions_, waiting in graveyard_
  bool authorizing = false;  // authorize() deferred its answer (Errc::would_block)
  std::string peer_cn;
  std::string peer_serial;  // of the verified certificate (raw INTEGER octets)
  int64_t peer_not_after = 0;
  std::optional<Fingerprint> peer_fingerprint;  // SHA-256 of its DER
  uint64_t created_ms = 0;
  std::list<Session*>::iterator half_open_pos;  // valid while state != established and !closed
  uint64_t armed_at = UINT64_MAX;  // the deadline of this session's live timer entry
  uint64_t dead_ms = 0;            // dead-peer interval from the pushed settings (0: off)
  uint64_t last_settings_ms = 0;   // SETTINGS resends are rate-limited
  uint64_t rtt_probe_ms = UINT64_MAX;  // when the server's next own PING (an RTT sample) is due
  uint64_t rtt_probe_seq = 0;          // the outstanding probe's value (0: none)
  NetworkSettings settings;
  SessionStats stats;
};

}  // namespace ptun::proto
