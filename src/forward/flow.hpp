// One relayed flow of the userspace forwarding (internal to src/forward).
#pragma once
#include <unistd.h>

#include <memory>
#include <vector>

#include "core/core.hpp"
#include "forward/forwarder.hpp"
#include "netstack/tcp_conn.hpp"
#include "relay/host_socket.hpp"
#include "relay/relay.hpp"

namespace ptun::forward {

struct Forwarder::Flow {
  enum class State : uint8_t { connecting, accepting, relaying };
  packet::FlowKey key;                 // as the client sent it: src = client, dst = destination
  State state = State::connecting;
  core::CancelSource cancel;           // the sweeper cancels on deadline or idleness
  uint64_t idle_ms;
  uint64_t deadline_ms = UINT64_MAX;   // connecting/accepting: give up then
  bool timed_out = false;              // cancelled by the sweeper (not by shutdown)
  relay::RelayActivity act;            // last_ms drives the idle timeout
  uint64_t stalled_since_ms = 0;       // relaying TCP: the client's window closed then (0: open)
  bool stalled_out = false;            // timed out for a zero window (not idleness)
  // TCP
  std::vector<uint8_t> syn;            // the client's SYN, fed to lwIP once upstream answered
  std::unique_ptr<netstack::TcpConn> conn;
  std::unique_ptr<core::Timer> wake;   // poked when lwIP accepted the connection
  // UDP
  std::unique_ptr<relay::HostUdp> udp;
  std::vector<uint8_t> last_head;      // the client's latest datagram's first bytes, for ICMP errors
  // ICMP echo: a ping socket (SOCK_DGRAM, IPPROTO_ICMP[V6]); the kernel owns the wire identifier
  int ping_fd = -1;
  std::unique_ptr<core::FdPoll> ping_poll;

  Flow(const packet::FlowKey& k, const core::CancelToken& parent, uint64_t idle)
      : key(k), cancel(parent), idle_ms(idle) {}
  ~Flow() {
    ping_poll.reset();
    if (ping_fd >= 0) ::close(ping_fd);
  }
};

}  // namespace ptun::forward
