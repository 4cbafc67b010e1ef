// Who owns a local socket: NETLINK_SOCK_DIAG (inet_diag) lookups by 4-tuple, giving the socket's
// uid and inode. One netlink socket, blocking request/reply with a short timeout; called for the
// first packet of a locally originated flow, never per packet.
#pragma once
#include <cstdint>
#include <memory>

#include "common/net_addr.hpp"
#include "common/result.hpp"

struct mnl_socket;

namespace ptun::apps {

struct SocketOwner {
  uint32_t uid = 0;
  uint64_t inode = 0;   // 0: a socket without an inode (timewait, already closed)
};

class SockDiag {
 public:
  static Result<std::unique_ptr<SockDiag>> open();
  ~SockDiag();
  SockDiag(const SockDiag&) = delete;
  SockDiag& operator=(const SockDiag&) = delete;

  // The socket with local address:port talking to remote address:port (proto 6 or 17). For UDP
  // an unconnected socket bound to the local port (or the wildcard) also matches. Errc::not_found
  // if there is none; Errc::io / timeout on netlink failures.
  Result<SocketOwner> lookup(uint8_t proto, const IpAddr& local, uint16_t lport, const IpAddr& remote,
                             uint16_t rport);

 private:
  explicit SockDiag(mnl_socket* nl);
  Result<SocketOwner> query(uint8_t family, uint8_t proto, const uint8_t* src, uint16_t sport,
                            const uint8_t* dst, uint16_t dport);
  mnl_socket* nl_;
  uint32_t seq_ = 1;
};

}  // namespace ptun::apps
