// One NETLINK_ROUTE socket for configuring links, addresses, routes and FIB rules: blocking
// request/ack, used at setup and teardown time (never per packet). Messages are built and decoded
// by the sans-I/O codecs in rtnl_messages.hpp; this class only sends and collects replies.
//
// Errors: every call returns the kernel's errno mapped by errc_from_errno() (Errc::exists,
// not_found, invalid_argument, unsupported, io) with the kernel's extended-ack text when it gave
// one; Errc::timeout if the kernel does not answer within 5 s; Errc::limit if a dump exceeds
// kMaxDumpEntries; Errc::protocol for a reply that does not decode.
//
// Not thread-safe: one owner at a time (the socket carries one request/reply exchange at a time).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "netlink/rtnl_messages.hpp"
#include "netlink/rtnl_types.hpp"

struct mnl_socket;

namespace ptun::netlink {

class Rtnl {
 public:
  // Opens and binds the socket (close-on-exec, extended acks on). Errc::io if that fails.
  static Result<std::unique_ptr<Rtnl>> open();
  ~Rtnl();
  Rtnl(const Rtnl&) = delete;
  Rtnl& operator=(const Rtnl&) = delete;

  // Links. link_index: Errc::not_found if no such interface.
  Result<int> link_index(const std::string& name);
  Result<void> link_set_up(int ifindex, bool up);
  Result<void> link_set_mtu(int ifindex, uint32_t mtu);
  Result<LinkInfo> link_get(int ifindex);
  Result<std::vector<LinkInfo>> links();
  Result<void> link_del(int ifindex);

  // Addresses (IPv6 with IFA_F_NODAD). addr_add: Errc::exists if already present.
  Result<void> addr_add(int ifindex, const Cidr& iface_addr);
  Result<void> addr_del(int ifindex, const Cidr& iface_addr);
  Result<std::vector<AddrInfo>> addrs(Family family = Family::none);

  // Routes. route_add: Errc::exists if present; route_del: Errc::not_found if absent (protocol
  // must match, see Route::protocol).
  Result<void> route_add(const Route& r);
  Result<void> route_replace(const Route& r);
  Result<void> route_del(const Route& r);
  // Routes of one family (Family::none = both) in `table` (0 = all tables). Cache clones are left
  // out; IPv6 also lists the kernel's own local and multicast routes (table 255).
  Result<std::vector<Route>> routes(Family family, uint32_t table = 0);
  // The route the kernel would use for `dst` (RTM_GETROUTE; fwmark as SO_MARK would set it).
  // The reply's dst is dst/32 (or /128) and `table` is the table the lookup matched in.
  Result<Route> route_get(const IpAddr& dst, uint32_t fwmark = 0, uint8_t ipproto = 0, uint16_t dport = 0);

  // FIB rules. rule_add: Errc::exists if an identical rule exists; rule_del: Errc::not_found.
  Result<void> rule_add(const Rule& r);
  Result<void> rule_del(const Rule& r);
  Result<std::vector<Rule>> rules(Family family);

 private:
  explicit Rtnl(mnl_socket* nl);
  // Sends `req` and hands every reply message that is not ack/error/done to `on_msg` (which may
  // be null). Ends at the ack (non-dump) or NLMSG_DONE (dump).
  template <typename F>
  Result<void> transact(nlmsghdr* req, const char* what, F&& on_msg);
  Result<void> request(Result<nlmsghdr*> req, const char* what);
  template <typename T, typename Decode>
  Result<std::vector<T>> dump(nlmsghdr* req, const char* what, uint16_t type, Decode&& decode);

  mnl_socket* nl_;
  uint32_t portid_;
  uint32_t seq_;
  // One receive buffer, sized for the kernel's largest dump skb; left uninitialised so only the
  // pages replies reach become resident (a vector's zero fill made 64 KiB resident per socket,
  // and a client holds two).
  std::unique_ptr<uint8_t[]> rx_;
};

}  // namespace ptun::netlink
