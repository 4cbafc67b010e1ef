#include "proxy/udp_association.hpp"

namespace ptun::proxy {

UdpAssociation::UdpAssociation(const IpAddr& client_ip, uint16_t requested_port)
    : client_{client_ip, requested_port} {}

bool UdpAssociation::accept(const Endpoint& from) {
  if (!(from.addr == client_.addr)) return false;
  if (client_.port == 0) client_.port = from.port;
  return from.port == client_.port;
}

}  // namespace ptun::proxy
