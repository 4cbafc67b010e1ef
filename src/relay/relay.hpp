// Copies a byte stream both ways between a host socket and a TCP connection inside lwIP, until
// both sides closed (or either failed). Used by the client's proxy (app -> tunnel), the server's
// userspace forwarding (tunnel -> destination) and the embedding API (socketpair -> tunnel).
// Back-pressure: lwIP's receive window reopens (TcpConn::ack) only after the bytes were written
// to the host socket.
#pragma once
#include <cstdint>
#include <vector>

#include "core/core.hpp"
#include "relay/host_socket.hpp"

namespace ptun::netstack { class TcpConn; }

namespace ptun::relay {

// Updated by the relay as bytes move, for idle timeouts and statistics.
struct RelayActivity {
  uint64_t last_ms = 0;
  uint64_t to_tunnel = 0, from_tunnel = 0;   // bytes
};

// How a relay ended. A side that failed (reset, error) makes the relay reset the other side too,
// so an application sees a reset where the far end reset, as through NAT.
enum class RelayEnd : uint8_t { closed, host_failed, tunnel_failed, cancelled };

// `pending` = bytes that arrived from the host side before the relay started, sent first.
core::Task<RelayEnd> relay_streams(core::Loop& loop, HostTcp& host, netstack::TcpConn& conn,
                               std::vector<uint8_t> pending, core::CancelToken token,
                               RelayActivity* activity = nullptr);

}  // namespace ptun::relay
