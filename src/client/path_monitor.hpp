// Path monitoring (Apple: NWPathMonitor) through rtnetlink multicast: a NETLINK_ROUTE socket
// subscribed to link, address and route changes (v4 and v6), read on the loop. It reports only
// *that* something changed, after the burst has settled; the client then recomputes its path
// (route to the server, source address, DNS) and compares - so changes that do not matter, such
// as the client's own routes on its TUN, cost one route lookup and nothing else.
#pragma once
#include <memory>

#include "common/result.hpp"
#include "core/core.hpp"

struct mnl_socket;

namespace ptun::client {

class PathMonitor {
 public:
  static constexpr uint64_t kSettleMs = 150;   // a DHCP renew or `ip addr` sends bursts
  // Errc::io if the socket cannot be opened or subscribed.
  static Result<std::unique_ptr<PathMonitor>> open(core::Loop& loop);
  ~PathMonitor();
  // Completes once a change was seen and kSettleMs passed without another, or with
  // Errc::cancelled. A receive-buffer overrun (ENOBUFS: events were lost) counts as a change.
  core::Task<Result<void>> wait_change(core::CancelToken stop);

 private:
  PathMonitor(core::Loop& loop, mnl_socket* nl);
  bool drain();  // reads everything queued; true if anything (or an overrun) was there

  core::Loop& loop_;
  mnl_socket* nl_;
  std::unique_ptr<core::FdPoll> poll_;
};

}  // namespace ptun::client
