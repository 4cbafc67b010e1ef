// A UDP socket inside the lwIP stack (bound to the stack's own address, any port) with a
// coroutine API. The receive callback copies datagrams into a bounded queue (oldest kept, newest
// dropped when full) and wakes the reader.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "core/core.hpp"

struct udp_pcb;

namespace ptun::netstack {

class Netstack;

struct UdpDatagram {
  Endpoint from;
  std::vector<uint8_t> data;
};

class UdpConn {
 public:
  // Errors: Errc::limit (UDP cap reached), Errc::io.
  static Result<std::unique_ptr<UdpConn>> open(Netstack& stack, Family family, size_t queue = 64);
  ~UdpConn();
  UdpConn(const UdpConn&) = delete;
  UdpConn& operator=(const UdpConn&) = delete;

  // Errc::unsupported if the stack has no address of dst's family; Errc::io if lwIP refuses.
  Result<void> send_to(const Endpoint& dst, std::span<const uint8_t> data);
  // The next datagram, or Errc::timeout at deadline_ms (loop clock), or Errc::cancelled.
  core::Task<Result<UdpDatagram>> recv(uint64_t deadline_ms, core::CancelToken token = {});
  uint64_t dropped() const { return dropped_; }

  struct Glue;

 private:
  UdpConn(Netstack& stack, struct udp_pcb* pcb, size_t queue);
  Netstack& stack_;
  struct udp_pcb* pcb_;
  size_t cap_;
  std::deque<UdpDatagram> q_;
  uint64_t dropped_ = 0;
  core::Timer wake_;
};

}  // namespace ptun::netstack
