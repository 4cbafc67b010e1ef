// IpAddr / Cidr / Endpoint parsing: the forms config files and the CLI accept, and what they refuse.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <catch2/catch.hpp>

#include "common/net_addr.hpp"

using namespace ptun;

TEST_CASE("IpAddr parses IPv4 and IPv6 and prints them back canonically", "[common][net_addr]") {
  auto a = IpAddr::parse("192.0.2.1");
  REQUIRE(a.ok());
  CHECK(a->is_v4());
  CHECK(a->size() == 4);
  CHECK(a->v4_host_order() == 0xc0000201u);
  CHECK(a->str() == "192.0.2.1");
  auto b = IpAddr::parse("2001:DB8:0:0::1");
  REQUIRE(b.ok());
  CHECK(b->is_v6());
  CHECK(b->str() == "2001:db8::1");
  CHECK(IpAddr::v4(0x0a000001u) == *IpAddr::parse("10.0.0.1"));
  CHECK(*IpAddr::parse("10.0.0.1") < *IpAddr::parse("10.0.0.2"));
}

TEST_CASE("IpAddr refuses malformed input", "[common][net_addr]") {
  for (const char* s : {"", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.4 ", " 1.2.3.4", "01.2.3.4x", "::g",
                        "1:2:3:4:5:6:7:8:9", "[::1]", "example.com", "1.2.3.4/8"}) {
    INFO(s);
    CHECK_FALSE(IpAddr::parse(s).ok());
  }
}

TEST_CASE("Cidr: host bits, prefix bounds, contains, network", "[common][net_addr]") {
  auto c = Cidr::parse("10.99.0.0/24");
  REQUIRE(c.ok());
  CHECK(c->prefix == 24);
  CHECK(c->contains(*IpAddr::parse("10.99.0.255")));
  CHECK_FALSE(c->contains(*IpAddr::parse("10.99.1.0")));
  CHECK_FALSE(c->contains(*IpAddr::parse("fd99::1")));
  CHECK(c->str() == "10.99.0.0/24");
  CHECK_FALSE(Cidr::parse("10.99.0.1/24").ok());  // host bits set
  CHECK_FALSE(Cidr::parse("10.0.0.0/33").ok());
  CHECK_FALSE(Cidr::parse("fd00::/129").ok());
  CHECK_FALSE(Cidr::parse("10.0.0.0").ok());
  CHECK_FALSE(Cidr::parse("10.0.0.0/").ok());
  CHECK_FALSE(Cidr::parse("10.0.0.0/-1").ok());
  auto i = Cidr::parse_interface("10.99.0.1/24");
  REQUIRE(i.ok());
  CHECK(i->network() == *c);
  CHECK(Cidr::parse("0.0.0.0/0")->contains(*IpAddr::parse("203.0.113.9")));
  CHECK(Cidr::parse("::/0")->contains(*IpAddr::parse("2001:db8::1")));
}

TEST_CASE("Endpoint parses addr:port and [v6]:port and round-trips sockaddr", "[common][net_addr]") {
  auto e = Endpoint::parse("198.18.0.2:4433");
  REQUIRE(e.ok());
  CHECK(e->port == 4433);
  CHECK(e->str() == "198.18.0.2:4433");
  auto e6 = Endpoint::parse("[fd00:18::2]:443");
  REQUIRE(e6.ok());
  CHECK(e6->addr.is_v6());
  CHECK(e6->str() == "[fd00:18::2]:443");
  for (const char* s : {"198.18.0.2", "198.18.0.2:", "198.18.0.2:65536", "fd00::1:443", "[fd00::1]",
                        ":443", "198.18.0.2:44x"}) {
    INFO(s);
    CHECK_FALSE(Endpoint::parse(s).ok());
  }
  sockaddr_storage ss;
  socklen_t len = e6->to_sockaddr(&ss);
  CHECK(len == sizeof(sockaddr_in6));
  CHECK(Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss)) == *e6);
  len = e->to_sockaddr(&ss);
  CHECK(len == sizeof(sockaddr_in));
  CHECK(Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss)) == *e);
  CHECK(Endpoint{}.to_sockaddr(&ss) == 0);
  CHECK(EndpointHash{}(*e) == EndpointHash{}(*Endpoint::parse("198.18.0.2:4433")));
}
