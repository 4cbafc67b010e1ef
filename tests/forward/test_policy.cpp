// What userspace forwarding lets clients reach, and the per-client flow cap.
#include "forward/policy.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace ptun;
using namespace ptun::forward;

namespace {
IpAddr a(const char* s) { return IpAddr::parse(s).value(); }
}  // namespace

TEST_CASE("classify_destination", "[forward][policy]") {
  std::vector<IpAddr> own = {a("10.99.0.1"), a("fd99::1")};
  CHECK(classify_destination(a("198.18.1.2"), own) == Destination::ok);
  CHECK(classify_destination(a("2001:db8::1"), own) == Destination::ok);
  CHECK(classify_destination(a("10.99.0.1"), own) == Destination::own);
  CHECK(classify_destination(a("fd99::1"), own) == Destination::own);
  CHECK(classify_destination(a("10.99.0.2"), own) == Destination::ok);
  CHECK(classify_destination(a("127.0.0.1"), own) == Destination::loopback);
  CHECK(classify_destination(a("127.255.0.9"), own) == Destination::loopback);
  CHECK(classify_destination(a("::1"), own) == Destination::loopback);
  CHECK(classify_destination(a("0.0.0.0"), own) == Destination::unspecified);
  CHECK(classify_destination(a("0.1.2.3"), own) == Destination::unspecified);
  CHECK(classify_destination(a("::"), own) == Destination::unspecified);
  CHECK(classify_destination(a("224.0.0.1"), own) == Destination::multicast);
  CHECK(classify_destination(a("239.255.255.250"), own) == Destination::multicast);
  CHECK(classify_destination(a("ff02::1"), own) == Destination::multicast);
  CHECK(classify_destination(a("255.255.255.255"), own) == Destination::broadcast);
  CHECK(classify_destination(a("240.0.0.1"), own) == Destination::broadcast);
  CHECK(classify_destination(a("169.254.169.254"), own) == Destination::link_local);
  CHECK(classify_destination(a("fe80::1"), own) == Destination::link_local);
  CHECK(classify_destination(a("::ffff:127.0.0.1"), own) == Destination::loopback);
  CHECK(classify_destination(a("::ffff:198.18.1.2"), own) == Destination::ok);
  CHECK(classify_destination(IpAddr{}, own) == Destination::unspecified);
  CHECK(std::string(to_string(Destination::link_local)) == "link-local");
}

TEST_CASE("FlowCounter caps each client separately", "[forward][policy]") {
  FlowCounter c(2);
  IpAddr x = a("10.99.0.2"), y = a("10.99.0.3");
  CHECK(c.acquire(x));
  CHECK(c.acquire(x));
  CHECK_FALSE(c.acquire(x));
  CHECK(c.count(x) == 2);
  CHECK(c.acquire(y));
  c.release(x);
  CHECK(c.count(x) == 1);
  CHECK(c.acquire(x));
  c.release(x);
  c.release(x);
  c.release(x);   // one too many: harmless
  CHECK(c.count(x) == 0);
  CHECK(c.clients() == 1);
}
