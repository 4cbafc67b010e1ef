// Shared pieces of ptun-load: the UDP side (a few non-blocking sockets, recvmmsg batches) and
// process memory figures. See ptun_load.cpp for the load mode and load_flood.cpp for the flood.
#pragma once
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "common/net_addr.hpp"

namespace ptun::load {

uint64_t now_ms();
// VmRSS / VmHWM of a process in KiB ("self" or a pid); 0 if unreadable.
uint64_t proc_kib(const std::string& pid, const char* field);

struct Sockets {
  std::vector<int> fds;
  Endpoint server;
  uint64_t tx_datagrams = 0, tx_bytes = 0, rx_datagrams = 0, rx_bytes = 0, tx_errors = 0;
  // `count` sockets bound to `bind_addr` (ephemeral ports), each connect()ed to `server`.
  bool open(const Endpoint& server_ep, const IpAddr& bind_addr, int count);
  void send(int idx, std::span<const uint8_t> d);
  // Waits up to timeout_ms, then drains every socket: on_rx(socket index, datagram).
  void poll_rx(int timeout_ms, const std::function<void(int, std::span<const uint8_t>)>& on_rx);
};

int run_flood(int argc, char** argv);

}  // namespace ptun::load
