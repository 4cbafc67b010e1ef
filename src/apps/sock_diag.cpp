#include "apps/sock_diag.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "netlink/rtnl_messages.hpp"

namespace ptun::apps {

SockDiag::SockDiag(mnl_socket* nl) : nl_(nl) {}
SockDiag::~SockDiag() {
  if (nl_) mnl_socket_close(nl_);
}

Result<std::unique_ptr<SockDiag>> SockDiag::open() {
  mnl_socket* nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
  if (!nl) return Error::from_errno("sock_diag: socket", errno);
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    int e = errno;
    mnl_socket_close(nl);
    return Error::from_errno("sock_diag: bind", e);
  }
  return std::unique_ptr<SockDiag>(new SockDiag(nl));
}

Result<SocketOwner> SockDiag::query(uint8_t family, uint8_t proto, const uint8_t* src, uint16_t sport,
                                    const uint8_t* dst, uint16_t dport) {
  alignas(nlmsghdr) char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
  nlh->nlmsg_flags = NLM_F_REQUEST;   // an exact lookup, not a dump
  nlh->nlmsg_seq = ++seq_;
  auto* req = static_cast<inet_diag_req_v2*>(mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req_v2)));
  req->sdiag_family = family;
  req->sdiag_protocol = proto;
  req->idiag_states = ~0u;
  req->id.idiag_sport = htons(sport);
  req->id.idiag_dport = htons(dport);
  size_t alen = family == AF_INET ? 4 : 16;
  std::memcpy(req->id.idiag_src, src, alen);
  std::memcpy(req->id.idiag_dst, dst, alen);
  req->id.idiag_cookie[0] = req->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return Error::from_errno("sock_diag: send", errno);

  pollfd pfd{mnl_socket_get_fd(nl_), POLLIN, 0};
  for (;;) {
    int pr = ::poll(&pfd, 1, 200);
    if (pr == 0) return Error(Errc::timeout, "sock_diag: no answer");
    if (pr < 0) return Error::from_errno("sock_diag: poll", errno);
    ssize_t n = mnl_socket_recvfrom(nl_, buf, sizeof buf);
    if (n < 0) return Error::from_errno("sock_diag: receive", errno);
    int len = int(n);
    // netlink::message_ok, not mnl_nlmsg_ok: libmnl compares lengths as signed ints.
    for (auto* m = reinterpret_cast<nlmsghdr*>(buf); netlink::message_ok(m, len); m = mnl_nlmsg_next(m, &len)) {
      if (m->nlmsg_seq != seq_) continue;   // a late answer to an earlier, timed-out query
      if (m->nlmsg_type == NLMSG_ERROR) {
        auto* err = static_cast<nlmsgerr*>(mnl_nlmsg_get_payload(m));
        if (err->error == -ENOENT) return Error(Errc::not_found, "no such socket");
        return Error::from_errno("sock_diag", -err->error);
      }
      if (m->nlmsg_type == SOCK_DIAG_BY_FAMILY && m->nlmsg_len >= NLMSG_LENGTH(sizeof(inet_diag_msg))) {
        auto* msg = static_cast<inet_diag_msg*>(mnl_nlmsg_get_payload(m));
        return SocketOwner{msg->idiag_uid, msg->idiag_inode};
      }
    }
  }
}

Result<SocketOwner> SockDiag::lookup(uint8_t proto, const IpAddr& local, uint16_t lport, const IpAddr& remote,
                                     uint16_t rport) {
  uint8_t family = local.is_v4() ? AF_INET : AF_INET6;
  // TCP looks the tuple up as (src = local, dst = remote); the kernel's UDP lookup takes it from
  // the receiving side's point of view (src = remote, dst = local). Try the UDP one both ways.
  if (proto == 6) return query(family, proto, local.bytes.data(), lport, remote.bytes.data(), rport);
  auto r = query(family, proto, remote.bytes.data(), rport, local.bytes.data(), lport);
  if (r || r.error().code != Errc::not_found) return r;
  return query(family, proto, local.bytes.data(), lport, remote.bytes.data(), rport);
}

}  // namespace ptun::apps
