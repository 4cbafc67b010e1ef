// Internal to ServerEndpoint: the state of one server-side session. Not part of the public API.
#pragma once
#include <list>
#include <memory>
#include <string>

#include "proto/server_endpoint.hpp"

namespace ptun::proto {

struct ServerEndpoint::Session {
  ServerEndpoint* owner = nullptr;
  uint64_t id = 0;
  Endpoint peer;  // where replies go; moves only after an authenticated record (roaming)
  std::unique_ptr<tls::DtlsSession> dtls;
  ServerSessionState state = ServerSessionState::handshaking;
  bool closed = false;  // removed from sessions_, waiting in graveyard_
  std::string peer_cn;
  uint64_t created_ms = 0;
  std::list<Session*>::iterator half_open_pos;  // valid while state != established and !closed
  uint64_t armed_at = UINT64_MAX;  // the deadline of this session's live timer entry
  uint64_t dead_ms = 0;            // dead-peer interval from the pushed settings (0: off)
  uint64_t last_settings_ms = 0;   // SETTINGS resends are rate-limited
  NetworkSettings settings;
  SessionStats stats;
};

}  // namespace ptun::proto
