// Attribution against the real kernel, on loopback sockets of this test process: sock_diag finds
// the socket's uid and inode, the /proc index finds this process, its executable and cgroup.
// Read-only (netlink queries and /proc reads), no host changes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <climits>

#include "apps/attributor.hpp"

using namespace ptun;
using namespace ptun::apps;

namespace {
struct Fd {
  int fd;
  ~Fd() { if (fd >= 0) ::close(fd); }
};
uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t l = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
  return ntohs(a.sin_port);
}
uint64_t inode_of(int fd) {
  struct stat st;
  ::fstat(fd, &st);
  return st.st_ino;
}
std::string self_exe() {
  char b[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", b, sizeof b);
  return std::string(b, size_t(n > 0 ? n : 0));
}
}  // namespace

TEST_CASE("sock_diag + /proc find this process for a TCP and a UDP flow", "[apps][kernel]") {
  auto diag = SockDiag::open();
  if (!diag) WARN("sock_diag unavailable: " << diag.error().message);
  if (!diag) return;
  IpAddr lo = IpAddr::parse("127.0.0.1").value();
  Fd l{::socket(AF_INET, SOCK_STREAM, 0)};
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(l.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(l.fd, 1) == 0);
  a.sin_port = htons(port_of(l.fd));
  Fd c{::socket(AF_INET, SOCK_STREAM, 0)};
  REQUIRE(::connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);

  auto owner = (*diag)->lookup(6, lo, port_of(c.fd), lo, port_of(l.fd));
  REQUIRE(owner.ok());
  CHECK(owner->uid == ::geteuid());
  CHECK(owner->inode == inode_of(c.fd));
  CHECK((*diag)->lookup(6, lo, 1, lo, 2).error().code == Errc::not_found);

  Fd u{::socket(AF_INET, SOCK_DGRAM, 0)};
  sockaddr_in ua{};
  ua.sin_family = AF_INET;
  ua.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(u.fd, reinterpret_cast<sockaddr*>(&ua), sizeof ua) == 0);
  // an unconnected UDP socket: the remote end is whatever the packet says
  auto uo = (*diag)->lookup(17, lo, port_of(u.fd), IpAddr::parse("127.0.0.1").value(), 9999);
  REQUIRE(uo.ok());
  CHECK(uo->inode == inode_of(u.fd));

  Attributor at(std::move(*diag), std::make_unique<ProcIndex>());
  packet::FlowKey k{lo, lo, port_of(c.fd), port_of(l.fd), 6};
  Identity id = at.attribute(k, true, {lo}, 0);
  REQUIRE(id.kind == Identity::Kind::process);
  CHECK(id.uid == ::geteuid());
  CHECK(id.exe == self_exe());
  // a second new flow of the same process: answered from the cache
  Identity second = at.attribute(k, true, {lo}, 1);
  CHECK(second == id);
  CHECK(at.proc_stats().hits >= 1);   // no second /proc walk
  // a flow from an address that is not ours: forwarded, attributed to the LAN host
  packet::FlowKey fwd{IpAddr::parse("192.168.1.7").value(), lo, 1234, 80, 6};
  Identity lan = at.attribute(fwd, true, {lo}, 2);
  CHECK(lan.kind == Identity::Kind::lan);
  CHECK(lan.lan.str() == "192.168.1.7");
  // nobody owns this one: unknown, not guessed
  packet::FlowKey gone{lo, lo, 1, 2, 6};
  CHECK(at.attribute(gone, true, {lo}, 3).kind == Identity::Kind::unknown);
  packet::FlowKey icmp{lo, lo, 7, 7, 1};
  CHECK(at.attribute(icmp, true, {lo}, 4).kind == Identity::Kind::unknown);
}

TEST_CASE("the /proc index is rate limited and forgets nothing it found", "[apps][kernel]") {
  ProcIndex idx("/proc", 2);
  CHECK_FALSE(idx.find(1, ::geteuid(), 0));   // inode 1 is nobody's socket
  CHECK_FALSE(idx.find(2, ::geteuid(), 10));
  CHECK_FALSE(idx.find(3, ::geteuid(), 20));
  CHECK(idx.stats().walks == 2);
  CHECK(idx.stats().rate_limited == 1);
  CHECK_FALSE(idx.find(3, ::geteuid(), 1020));   // a new second: walks again
  CHECK(idx.stats().walks == 3);
}
