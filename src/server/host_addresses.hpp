// Every address of the server host, kept current through rtnetlink: userspace forwarding refuses
// them as destinations (forward/policy.hpp, issue 19). A NETLINK_ROUTE socket subscribed to the
// IPv4 and IPv6 address groups says *that* something changed; the set itself always comes from a
// fresh dump, so a lost event (ENOBUFS) costs a dump, never a stale set.
#pragma once
#include <memory>
#include <vector>

#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "core/core.hpp"
#include "netlink/rtnl.hpp"

struct mnl_socket;

namespace ptun::server {

class HostAddresses {
 public:
  // Subscribes before the caller's first dump, so no change in between is missed. Needs no
  // privilege. Errc::io if netlink is unavailable.
  static Result<std::unique_ptr<HostAddresses>> open(core::Loop& loop);
  ~HostAddresses();
  // Every address on every interface, both families (a dump).
  Result<std::vector<IpAddr>> current();
  // Completes once an address was added or removed (or events were lost), or Errc::cancelled.
  core::Task<Result<void>> wait_change(core::CancelToken stop);

 private:
  HostAddresses(mnl_socket* nl, std::unique_ptr<netlink::Rtnl> rtnl, core::Loop& loop);
  bool drain();  // reads what is queued; true if anything (or an overrun) was there

  mnl_socket* nl_;
  std::unique_ptr<netlink::Rtnl> rtnl_;
  std::unique_ptr<core::FdPoll> poll_;
};

}  // namespace ptun::server
