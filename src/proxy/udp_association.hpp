// Which host datagrams belong to one SOCKS5 UDP association (RFC 1928 section 7), pure code.
// The client is the control connection's address plus one port: the DST.PORT of the UDP
// ASSOCIATE request when the client named one, else the source port of its first datagram.
// Matching the address alone would let any other program on that host (every local user, for a
// proxy on loopback) send through the association and receive its replies.
#pragma once
#include <cstdint>

#include "common/net_addr.hpp"

namespace ptun::proxy {

class UdpAssociation {
 public:
  // `client_ip`: the control connection's peer. `requested_port`: DST.PORT of the request
  // (0 = not known yet). DST.ADDR is not trusted over the connection's own address.
  UdpAssociation(const IpAddr& client_ip, uint16_t requested_port);
  // True if a datagram from `from` belongs to the association; the first one from the
  // client's address binds the port when the request had none.
  bool accept(const Endpoint& from);
  // Where replies go; the port is 0 until bound.
  const Endpoint& client() const { return client_; }

 private:
  Endpoint client_;
};

}  // namespace ptun::proxy
