// relay::HostTcp / HostUdp, the host side every relay uses (proxy, the server's forwarding, the
// embedding API): a loopback connection both ways with EOF, non-blocking reads, a refused
// connect, an adopted socketpair, and connected UDP. Loopback only: no root, no namespace.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "core/core.hpp"
#include "core/run.hpp"
#include "relay/host_socket.hpp"

using namespace ptun;
using namespace ptun::core;
using namespace ptun::relay;

namespace {

Endpoint loopback(uint16_t port = 0) { return Endpoint{*IpAddr::parse("127.0.0.1"), port}; }

std::span<const uint8_t> bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// Reads until EOF (at most `max` bytes).
Task<std::string> read_all(HostTcp& s, size_t max = 1 << 20) {
  std::string out;
  uint8_t buf[4096];
  while (out.size() < max) {
    auto n = co_await s.read_some(buf);
    REQUIRE(n.ok());
    if (*n == 0) break;
    out.append(reinterpret_cast<const char*>(buf), *n);
  }
  co_return out;
}

}  // namespace

TEST_CASE("HostTcp: listen, connect, both directions, half close, EOF", "[relay]") {
  Loop loop;
  run_until_complete(loop, [](Loop& loop) -> Task<void> {
    auto l = HostTcp::listen(loop, loopback());
    REQUIRE(l.ok());
    const Endpoint at = (*l)->local();
    REQUIRE(at.port != 0);
    auto c = co_await HostTcp::connect(loop, at);
    REQUIRE(c.ok());
    auto a = co_await (*l)->accept();
    REQUIRE(a.ok());
    CHECK((*a)->peer() == (*c)->local());
    // Nothing sent yet: a non-blocking read says so instead of waiting.
    uint8_t b[8];
    CHECK((*a)->try_read(b).error().code == Errc::would_block);
    const std::string up(300000, 'u'), down = "reply";
    Result<void> w = co_await (*c)->write_all(bytes(up));
    REQUIRE(w.ok());
    (*c)->shutdown_write();   // FIN: the other side reads EOF after the bytes
    std::string got = co_await read_all(**a);
    CHECK(got == up);
    w = co_await (*a)->write_all(bytes(down));
    REQUIRE(w.ok());
    a->reset();   // closed: EOF for the connector
    got = co_await read_all(**c);
    CHECK(got == down);
  }(loop));
}

TEST_CASE("HostTcp: a refused connection, an adopted socketpair", "[relay]") {
  Loop loop;
  run_until_complete(loop, [](Loop& loop) -> Task<void> {
    // A port that was just free: connection refused, reported as Errc::closed.
    uint16_t port;
    {
      auto l = HostTcp::listen(loop, loopback());
      REQUIRE(l.ok());
      port = (*l)->local().port;
    }
    auto r = co_await HostTcp::connect(loop, loopback(port));
    REQUIRE_FALSE(r.ok());
    INFO(r.error().message);
    CHECK(r.error().code == Errc::closed);

    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    auto s = HostTcp::adopt(loop, fds[0]);   // owns fds[0] from here
    REQUIRE(::write(fds[1], "abc", 3) == 3);
    ::shutdown(fds[1], SHUT_WR);
    std::string read = co_await read_all(*s);
    CHECK(read == "abc");
    Result<void> w = co_await s->write_all(bytes("xyz"));
    REQUIRE(w.ok());
    char got[4] = {};
    CHECK(::read(fds[1], got, 3) == 3);
    CHECK(std::string(got) == "xyz");
    ::close(fds[1]);
  }(loop));
}

TEST_CASE("HostUdp: bound and connected sockets, an ICMP-refused peer", "[relay]") {
  Loop loop;
  run_until_complete(loop, [](Loop& loop) -> Task<void> {
    auto server = HostUdp::bind(loop, loopback());
    REQUIRE(server.ok());
    const Endpoint at = (*server)->local();
    auto client = HostUdp::connect(loop, at);
    REQUIRE(client.ok());
    REQUIRE((*client)->send(bytes("ping")).ok());
    uint8_t buf[64];
    Endpoint from;
    auto n = co_await (*server)->recv_from(buf, &from);
    REQUIRE(n.ok());
    CHECK(std::string(reinterpret_cast<char*>(buf), *n) == "ping");
    CHECK(from == (*client)->local());
    REQUIRE((*server)->send_to(from, bytes("pong")).ok());
    n = co_await (*client)->recv_from(buf, &from);
    REQUIRE(n.ok());
    CHECK(std::string(reinterpret_cast<char*>(buf), *n) == "pong");
    CHECK(from == at);
    // The server goes away: the port unreachable comes back as Errc::not_found on receive.
    server->reset();
    REQUIRE((*client)->send(bytes("anyone?")).ok());
    auto gone = co_await (*client)->recv_from(buf, &from);
    REQUIRE_FALSE(gone.ok());
    CHECK(gone.error().code == Errc::not_found);
  }(loop));
}
