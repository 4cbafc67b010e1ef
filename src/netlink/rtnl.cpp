// The socket side of Rtnl: one request at a time, replies matched by sequence number and port id.
#include "netlink/rtnl.hpp"

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <ctime>

namespace ptun::netlink {

namespace {

// The kernel sizes dump skbs up to 32 KiB (more with large receive buffers); 64 KiB never truncates.
constexpr size_t kRxBufSize = 64 * 1024;
constexpr int kReplyTimeoutSec = 5;
constexpr int kDumpAttempts = 3;  // a dump interrupted by a concurrent change is retried

Error sys_error(const std::string& what, int errnum) {
  Error e = Error::from_errno(what, errnum);
  e.code = errc_from_errno(errnum);
  return e;
}

std::string describe(const Route& r) {
  std::string s = r.dst.str();
  if (r.gateway) s += " via " + r.gateway->str();
  if (r.ifindex) s += " dev #" + std::to_string(r.ifindex);
  return s + " table " + std::to_string(r.table);
}

std::string describe(const Rule& r) {
  return "priority " + std::to_string(r.priority) + (r.invert ? " not" : "") + " fwmark " +
         std::to_string(r.fwmark) + " table " + std::to_string(r.table);
}

}  // namespace

Result<std::unique_ptr<Rtnl>> Rtnl::open() {
  mnl_socket* nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (!nl) return sys_error("netlink socket", errno);
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    int e = errno;
    mnl_socket_close(nl);
    return sys_error("netlink bind", e);
  }
  // Best effort: extended acks give the kernel's reason for EINVAL; capped acks do not echo the
  // request back. Both exist since Linux 4.12/4.3; without them errors just carry less text.
  int one = 1;
  (void)mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof one);
  (void)mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof one);
  timeval tv{kReplyTimeoutSec, 0};
  if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
    int e = errno;
    mnl_socket_close(nl);
    return sys_error("netlink SO_RCVTIMEO", e);
  }
  return std::unique_ptr<Rtnl>(new Rtnl(nl));
}

Rtnl::Rtnl(mnl_socket* nl)
    : nl_(nl), portid_(mnl_socket_get_portid(nl)), seq_(uint32_t(time(nullptr))),
      rx_(new uint8_t[kRxBufSize]) {}

Rtnl::~Rtnl() { mnl_socket_close(nl_); }

template <typename F>
Result<void> Rtnl::transact(nlmsghdr* req, const char* what, F&& on_msg) {
  const uint32_t seq = ++seq_;
  req->nlmsg_seq = seq;
  if (mnl_socket_sendto(nl_, req, req->nlmsg_len) < 0) return sys_error(what, errno);
  // A request with NLM_F_ACK ends with NLMSG_ERROR (error 0 = ack), a dump with NLMSG_DONE (or
  // NLMSG_ERROR if it could not start). After a decode failure keep reading to the end: an unfinished dump would make the kernel
  // refuse the next one on this socket (EBUSY).
  Result<void> failure;
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl_, rx_.get(), kRxBufSize);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return Error(Errc::timeout, std::string(what) + ": no answer from the kernel");
      return sys_error(what, errno);
    }
    int len = int(n);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(rx_.get()); message_ok(nlh, len);
         nlh = mnl_nlmsg_next(nlh, &len)) {
      // Replies to an earlier request that timed out are skipped.
      if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != portid_) continue;
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        Result<void> r = decode_error(nlh, what);
        return r.ok() ? failure : r;
      }
      if (nlh->nlmsg_type == NLMSG_DONE) {
        // A dump that failed midway reports its error as an int after the header.
        if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int)) {
          int err = *static_cast<const int*>(mnl_nlmsg_get_payload(nlh));
          if (err < 0) return sys_error(what, -err);
        }
        return failure;
      }
      if (nlh->nlmsg_type < NLMSG_MIN_TYPE) continue;  // NOOP, OVERRUN
      if (failure.ok()) {
        Result<void> r = on_msg(nlh);
        if (!r.ok()) failure = r;
      }
    }
  }
}

Result<void> Rtnl::request(Result<nlmsghdr*> req, const char* what) {
  if (!req) return req.error();
  return transact(*req, what, [](const nlmsghdr*) { return ok(); });
}

template <typename T, typename Decode>
Result<std::vector<T>> Rtnl::dump(nlmsghdr* req, const char* what, uint16_t type, Decode&& decode) {
  for (int attempt = 1;; ++attempt) {
    std::vector<T> out;
    bool interrupted = false;
    auto r = transact(req, what, [&](const nlmsghdr* nlh) -> Result<void> {
      if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
      if (nlh->nlmsg_type != type) return ok();
      if (out.size() >= kMaxDumpEntries)
        return Error(Errc::limit, std::string(what) + ": more than " +
                                      std::to_string(kMaxDumpEntries) + " entries");
      return decode(nlh, out);
    });
    if (!r) return r.error();
    if (!interrupted) return out;
    if (attempt == kDumpAttempts)
      return Error(Errc::io, std::string(what) + ": dump kept changing under us");
  }
}

// Decoders shared by the dumps: entries of families ptun does not handle are skipped.
template <typename T>
static Result<void> keep(Result<T> v, std::vector<T>& out) {
  if (v) {
    out.push_back(std::move(*v));
    return ok();
  }
  return v.error().code == Errc::unsupported ? ok() : Result<void>(v.error());
}

Result<int> Rtnl::link_index(const std::string& name) {
  RequestBuf buf;
  auto req = build_link_get(buf, 0, name);
  if (!req) return req.error();
  int index = 0;
  std::string what = "link " + name;
  auto r = transact(*req, what.c_str(), [&](const nlmsghdr* nlh) -> Result<void> {
    if (nlh->nlmsg_type != RTM_NEWLINK) return ok();
    auto l = decode_link(nlh);
    if (!l) return l.error();
    index = l->ifindex;
    return ok();
  });
  if (!r) return r.error();
  if (index <= 0) return Error(Errc::protocol, what + ": no link in the reply");
  return index;
}

Result<void> Rtnl::link_set_up(int ifindex, bool up) {
  RequestBuf buf;
  return request(build_link_change(buf, ifindex, up, 0), up ? "link set up" : "link set down");
}

Result<void> Rtnl::link_set_mtu(int ifindex, uint32_t mtu) {
  if (mtu == 0) return Error(Errc::invalid_argument, "link set mtu: MTU 0");
  RequestBuf buf;
  return request(build_link_change(buf, ifindex, std::nullopt, mtu), "link set mtu");
}

Result<LinkInfo> Rtnl::link_get(int ifindex) {
  RequestBuf buf;
  auto req = build_link_get(buf, ifindex, {});
  if (!req) return req.error();
  std::optional<LinkInfo> found;
  auto r = transact(*req, "link get", [&](const nlmsghdr* nlh) -> Result<void> {
    if (nlh->nlmsg_type != RTM_NEWLINK) return ok();
    auto l = decode_link(nlh);
    if (!l) return l.error();
    found = std::move(*l);
    return ok();
  });
  if (!r) return r.error();
  if (!found) return Error(Errc::protocol, "link get: no link in the reply");
  return std::move(*found);
}

Result<std::vector<LinkInfo>> Rtnl::links() {
  RequestBuf buf;
  return dump<LinkInfo>(build_link_dump(buf), "list links", RTM_NEWLINK,
                        [](const nlmsghdr* nlh, std::vector<LinkInfo>& out) {
                          return keep(decode_link(nlh), out);
                        });
}

Result<void> Rtnl::link_del(int ifindex) {
  RequestBuf buf;
  return request(build_link_del(buf, ifindex), "link delete");
}

Result<void> Rtnl::addr_add(int ifindex, const Cidr& a) {
  RequestBuf buf;
  std::string what = "address add " + a.str();
  return request(build_addr(buf, Op::add, ifindex, a), what.c_str());
}

Result<void> Rtnl::addr_del(int ifindex, const Cidr& a) {
  RequestBuf buf;
  std::string what = "address delete " + a.str();
  return request(build_addr(buf, Op::del, ifindex, a), what.c_str());
}

Result<std::vector<AddrInfo>> Rtnl::addrs(Family family) {
  RequestBuf buf;
  return dump<AddrInfo>(build_addr_dump(buf, family), "list addresses", RTM_NEWADDR,
                        [family](const nlmsghdr* nlh, std::vector<AddrInfo>& out) {
                          auto a = decode_addr(nlh);
                          if (a && family != Family::none && a->addr.addr.family != family)
                            return ok();
                          return keep(std::move(a), out);
                        });
}

Result<void> Rtnl::route_add(const Route& r) {
  RequestBuf buf;
  std::string what = "route add " + describe(r);
  return request(build_route(buf, Op::add, r), what.c_str());
}

Result<void> Rtnl::route_replace(const Route& r) {
  RequestBuf buf;
  std::string what = "route replace " + describe(r);
  return request(build_route(buf, Op::replace, r), what.c_str());
}

Result<void> Rtnl::route_del(const Route& r) {
  RequestBuf buf;
  std::string what = "route delete " + describe(r);
  return request(build_route(buf, Op::del, r), what.c_str());
}

Result<std::vector<Route>> Rtnl::routes(Family family, uint32_t table) {
  RequestBuf buf;
  return dump<Route>(build_route_dump(buf, family), "list routes", RTM_NEWROUTE,
                     [family, table](const nlmsghdr* nlh, std::vector<Route>& out) {
                       const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
                       if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(rtmsg) &&
                           (rtm->rtm_flags & RTM_F_CLONED))
                         return ok();
                       auto r = decode_route(nlh);
                       if (r && ((table && r->table != table) ||
                                 (family != Family::none && r->dst.addr.family != family)))
                         return ok();
                       return keep(std::move(r), out);
                     });
}

Result<Route> Rtnl::route_get(const IpAddr& dst, uint32_t fwmark, uint8_t ipproto, uint16_t dport) {
  RequestBuf buf;
  auto req = build_route_get(buf, dst, fwmark, ipproto, dport);
  if (!req) return req.error();
  std::string what = "route get " + dst.str();
  std::optional<Route> found;
  auto r = transact(*req, what.c_str(), [&](const nlmsghdr* nlh) -> Result<void> {
    if (nlh->nlmsg_type != RTM_NEWROUTE) return ok();
    auto route = decode_route(nlh);
    if (!route) return route.error();
    found = std::move(*route);
    return ok();
  });
  if (!r) return r.error();
  if (!found) return Error(Errc::protocol, what + ": no route in the reply");
  return std::move(*found);
}

Result<void> Rtnl::rule_add(const Rule& r) {
  RequestBuf buf;
  std::string what = "rule add " + describe(r);
  return request(build_rule(buf, Op::add, r), what.c_str());
}

Result<void> Rtnl::rule_del(const Rule& r) {
  RequestBuf buf;
  std::string what = "rule delete " + describe(r);
  return request(build_rule(buf, Op::del, r), what.c_str());
}

Result<std::vector<Rule>> Rtnl::rules(Family family) {
  RequestBuf buf;
  return dump<Rule>(build_rule_dump(buf, family), "list rules", RTM_NEWRULE,
                    [family](const nlmsghdr* nlh, std::vector<Rule>& out) {
                      auto r = decode_rule(nlh);
                      if (r && family != Family::none && r->family != family) return ok();
                      return keep(std::move(r), out);
                    });
}

}  // namespace ptun::netlink
