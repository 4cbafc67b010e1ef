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

TEST_CASE("DestinationPolicy refuses the host's addresses and the deny list", "[forward][policy]") {
  std::vector<IpAddr> own = {a("10.99.0.1")};
  DestinationPolicy p(own, {*Cidr::parse("fd00:ec2::254/128"), *Cidr::parse("100.100.100.200/32"),
                            *Cidr::parse("192.0.2.0/24")});
  // Before the host's addresses are known only the deny list and the intrinsic classes count.
  CHECK(p.classify(a("198.18.1.1")) == Destination::ok);
  std::vector<IpAddr> host = {a("198.18.0.2"), a("198.18.1.1"), a("fd00:19::1"), a("172.17.0.1")};
  p.set_host_addresses(host);
  CHECK(p.host_address_count() == 4);
  struct Case { const char* dst; Destination want; };
  for (auto c : {Case{"198.18.0.2", Destination::host}, Case{"198.18.1.1", Destination::host},
                 Case{"172.17.0.1", Destination::host}, Case{"fd00:19::1", Destination::host},
                 Case{"::ffff:198.18.1.1", Destination::host},          // mapped: judged as IPv4
                 Case{"198.18.1.2", Destination::ok},                   // a neighbour, not the host
                 Case{"fd00:19::2", Destination::ok},
                 Case{"fd00:ec2::254", Destination::denied}, Case{"fd00:ec2::253", Destination::ok},
                 Case{"100.100.100.200", Destination::denied}, Case{"100.100.100.201", Destination::ok},
                 Case{"192.0.2.77", Destination::denied}, Case{"::ffff:192.0.2.77", Destination::denied},
                 Case{"10.99.0.1", Destination::own},                   // tunnel address: answered
                 Case{"127.0.0.1", Destination::loopback}, Case{"169.254.169.254", Destination::link_local}}) {
    INFO(c.dst);
    CHECK(p.classify(a(c.dst)) == c.want);
  }
  // The set is replaced, not merged: a removed address is reachable again, a new one refused.
  std::vector<IpAddr> now = {a("198.18.0.2"), a("198.18.9.1")};
  p.set_host_addresses(now);
  CHECK(p.classify(a("198.18.1.1")) == Destination::ok);
  CHECK(p.classify(a("198.18.9.1")) == Destination::host);
  CHECK(std::string(to_string(Destination::host)) == "host");
  CHECK(std::string(to_string(Destination::denied)) == "denied");
  // An empty deny list refuses nothing beyond the rest.
  DestinationPolicy open_policy(own, {});
  CHECK(open_policy.classify(a("100.100.100.200")) == Destination::ok);
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
