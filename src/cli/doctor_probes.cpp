#include "cli/doctor_probes.hpp"

#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "netcfg/dns_message.hpp"

namespace ptun::cli {
namespace {

using Clock = std::chrono::steady_clock;

uint16_t icmp_checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += uint32_t(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

// Milliseconds left until `deadline` (0 when past).
int left_ms(Clock::time_point deadline) {
  auto l = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return l > 0 ? int(l) : 0;
}

}  // namespace

Result<bool> df_ping(const std::string& ifname, const IpAddr& dst, uint32_t size, uint16_t seq, int wait_ms) {
  const bool v6 = dst.is_v6();
  const size_t ip_header = v6 ? 40 : 20;
  if (size < ip_header + 8) return false;
  int proto = v6 ? int(IPPROTO_ICMPV6) : int(IPPROTO_ICMP);
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC, proto);
  if (fd < 0) return Error::from_errno(v6 ? "raw ICMPv6 socket" : "raw ICMP socket", errno);
  if (v6) {
    int probe = IPV6_PMTUDISC_PROBE, one = 1;   // no fragmentation, the cached PMTU ignored
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &probe, sizeof probe);
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, &one, sizeof one);
  } else {
    int probe = IP_PMTUDISC_PROBE;   // DF set, the route's cached PMTU ignored: the tunnel decides
    ::setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof probe);
  }
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(), socklen_t(ifname.size())) < 0) {
    int e = errno;
    ::close(fd);
    return Error::from_errno("bind to " + ifname, e);
  }
  std::vector<uint8_t> pkt(size - ip_header, 0x5a);
  uint16_t id = uint16_t(::getpid());
  pkt[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
  pkt[1] = pkt[2] = pkt[3] = 0;
  pkt[4] = uint8_t(id >> 8);
  pkt[5] = uint8_t(id);
  pkt[6] = uint8_t(seq >> 8);
  pkt[7] = uint8_t(seq);
  if (!v6) {   // the kernel sums ICMPv6 itself (it needs the pseudo-header)
    uint16_t ck = icmp_checksum(pkt.data(), pkt.size());
    pkt[2] = uint8_t(ck >> 8);
    pkt[3] = uint8_t(ck);
  }
  sockaddr_storage to;
  socklen_t tolen = Endpoint{dst, 0}.to_sockaddr(&to);
  if (::sendto(fd, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), tolen) < 0) {
    ::close(fd);
    return false;   // EMSGSIZE: larger than the TUN itself takes
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(wait_ms);
  bool got = false;
  for (int i = 0; i < 256 && !got; ++i) {   // bounded: other ICMP on the host arrives here too
    int left = left_ms(deadline);
    pollfd p{fd, POLLIN, 0};
    if (left == 0 || ::poll(&p, 1, left) <= 0) break;
    uint8_t buf[65536];
    sockaddr_storage from;
    socklen_t flen = sizeof from;
    ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
    const uint8_t* icmp = buf;
    if (v6) {   // the ICMPv6 message alone; the source from recvfrom
      if (n < 8 || std::memcmp(&reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr, dst.bytes.data(), 16) != 0) continue;
      if (icmp[0] != ICMP6_ECHO_REPLY) continue;
    } else {    // the IPv4 header first
      if (n < 20) continue;
      size_t ihl = size_t(buf[0] & 0x0f) * 4;
      if (size_t(n) < ihl + 8 || std::memcmp(buf + 12, dst.bytes.data(), 4) != 0) continue;
      icmp = buf + ihl;
      if (icmp[0] != ICMP_ECHOREPLY) continue;
    }
    got = icmp[4] == uint8_t(id >> 8) && icmp[5] == uint8_t(id) && icmp[6] == uint8_t(seq >> 8) && icmp[7] == uint8_t(seq);
  }
  ::close(fd);
  return got;
}

netcfg::doctor::Facts::DnsAnswer ask_dns(const IpAddr& server, const std::string& name, int wait_ms) {
  netcfg::doctor::Facts::DnsAnswer a;
  a.server = server;
  a.name = name;
  uint16_t id = uint16_t(::getpid() ^ (uintptr_t(&a) >> 4));
  auto q = netcfg::build_dns_query(id, name, 1);
  if (q.empty()) {
    a.error = "'" + name + "' is not a name to ask";
    return a;
  }
  int fd = ::socket(server.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    a.error = std::strerror(errno);
    return a;
  }
  sockaddr_storage to;
  socklen_t tolen = Endpoint{server, 53}.to_sockaddr(&to);
  auto t0 = Clock::now();
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), tolen) < 0 || ::send(fd, q.data(), q.size(), 0) < 0) {
    a.error = std::strerror(errno);
    ::close(fd);
    return a;
  }
  auto deadline = t0 + std::chrono::milliseconds(wait_ms);
  for (int i = 0; i < 16 && !a.answered; ++i) {   // a stray datagram does not end the wait
    int left = left_ms(deadline);
    pollfd p{fd, POLLIN, 0};
    if (left == 0 || ::poll(&p, 1, left) <= 0) break;
    uint8_t buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) {   // ICMP port unreachable on a connected socket: nothing listens there
      a.error = std::strerror(errno);
      break;
    }
    std::span<const uint8_t> r(buf, size_t(n));
    auto p2 = netcfg::parse_dns_response(r);
    if (!p2 || p2->id != id || p2->name != netcfg::parse_dns_query(q)->name) continue;
    a.answered = true;
    a.rcode = netcfg::dns_rcode(r);
    a.ms = uint32_t(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
  }
  ::close(fd);
  return a;
}

}  // namespace ptun::cli
