// UdpAssociation: a SOCKS5 UDP association accepts its client's address and port only.
#include <catch2/catch.hpp>

#include "proxy/udp_association.hpp"

using namespace ptun;
using namespace ptun::proxy;

namespace {
Endpoint ep(const char* s) { return *Endpoint::parse(s); }
}  // namespace

TEST_CASE("UDP ASSOCIATE with DST.PORT: only that port of the client's address", "[proxy][udp]") {
  // Issue 19 item 5: matching the IP alone let any local program use the association.
  UdpAssociation a(*IpAddr::parse("127.0.0.1"), 5000);
  CHECK(a.client() == ep("127.0.0.1:5000"));
  CHECK_FALSE(a.accept(ep("127.0.0.1:5001")));
  CHECK(a.accept(ep("127.0.0.1:5000")));
  CHECK_FALSE(a.accept(ep("127.0.0.2:5000")));
  CHECK(a.client() == ep("127.0.0.1:5000"));
}

TEST_CASE("UDP ASSOCIATE with port 0: the first datagram's port binds the association", "[proxy][udp]") {
  UdpAssociation a(*IpAddr::parse("::1"), 0);
  CHECK(a.client().port == 0);
  CHECK_FALSE(a.accept(ep("[::2]:6000")));   // another address binds nothing
  CHECK(a.client().port == 0);
  CHECK(a.accept(ep("[::1]:6000")));
  CHECK(a.client() == ep("[::1]:6000"));
  CHECK_FALSE(a.accept(ep("[::1]:6001")));   // a second local socket
  CHECK(a.accept(ep("[::1]:6000")));
}
