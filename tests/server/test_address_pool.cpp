// AddressPool and LeaseStore: sticky leases, expiry of unused ones, the lease file.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <fstream>

#include "server/address_pool.hpp"

using namespace ptun;
using namespace ptun::server;

namespace {
constexpr int64_t kDay = 86400;
const AddressPool::ActiveFn kNoneActive = [](const std::string&) { return false; };
}  // namespace

TEST_CASE("dynamic leases are sticky and exhaust the pool", "[server][pool]") {
  AddressPool pool(*Cidr::parse("10.9.0.0/29"), std::nullopt);  // hosts .2 .. .6
  int64_t t = 1'800'000'000;
  auto a = pool.acquire("a", t, kNoneActive);
  REQUIRE(a.ok());
  CHECK(a->ipv4 == *IpAddr::parse("10.9.0.2"));
  CHECK(pool.acquire("a", t + 5, kNoneActive)->ipv4 == a->ipv4);
  for (const char* n : {"b", "c", "d", "e"}) REQUIRE(pool.acquire(n, t, kNoneActive).ok());
  auto f = pool.acquire("f", t, kNoneActive);
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().code == Errc::limit);  // expiry off (0): never released
  CHECK(pool.leases().count("f") == 0);
}

TEST_CASE("leases of peers gone for the expiry age make room when the pool runs out", "[server][pool]") {
  // Issue 19 item 5: many CNs used once must not hold the pool for good.
  AddressPool pool(*Cidr::parse("10.9.0.0/29"), *Cidr::parse("fd09::/125"));
  pool.set_expiry(30 * kDay);
  int64_t t = 1'800'000'000;
  for (const char* n : {"a", "b", "c", "d", "e"}) REQUIRE(pool.acquire(n, t, kNoneActive).ok());
  pool.touch("b", t + 10 * kDay);   // b's session ended later
  // Within the age: still full.
  CHECK(pool.acquire("f", t + 29 * kDay, kNoneActive).error().code == Errc::limit);
  // Past it: a (connected now) and b (seen recently) keep theirs; c, d, e go.
  auto active = [](const std::string& p) { return p == "a"; };
  auto f = pool.acquire("f", t + 31 * kDay, active);
  REQUIRE(f.ok());
  CHECK(f->ipv4 == *IpAddr::parse("10.9.0.4"));   // c's old address, the lowest free
  CHECK(f->ipv6);
  CHECK(pool.leases().count("a") == 1);
  CHECK(pool.leases().count("b") == 1);
  CHECK(pool.leases().count("c") == 0);
  CHECK(pool.leases().count("e") == 0);
  CHECK(pool.leases().at("f").last_seen == t + 31 * kDay);
  // expire() alone: b is past the age 30 days after its touch.
  auto gone = pool.expire(t + 41 * kDay, kNoneActive);
  CHECK(gone == std::vector<std::string>{"a", "b"});
}

TEST_CASE("restored leases without last_seen count as seen at restore", "[server][pool]") {
  AddressPool pool(*Cidr::parse("10.9.0.0/29"), std::nullopt);
  pool.set_expiry(kDay);
  Lease old;
  old.ipv4 = *IpAddr::parse("10.9.0.3");
  Lease stamped = old;
  stamped.ipv4 = *IpAddr::parse("10.9.0.4");
  stamped.last_seen = 1000;
  pool.restore({{"old", old}, {"stamped", stamped}}, 5 * kDay);
  CHECK(pool.leases().at("old").last_seen == 5 * kDay);
  CHECK(pool.expire(5 * kDay + 10, kNoneActive) == std::vector<std::string>{"stamped"});
}

TEST_CASE("the lease file keeps last_seen and never throws on odd names", "[server][pool]") {
  char dir[] = "/tmp/ptun-lease-XXXXXX";
  REQUIRE(::mkdtemp(dir));
  std::string path = std::string(dir) + "/leases.json";
  LeaseStore store(path);
  std::map<std::string, Lease> in;
  in["alice"] = Lease{*IpAddr::parse("10.9.0.2"), *IpAddr::parse("fd09::2"), 1'800'000'000};
  in["bad\xff"] = Lease{*IpAddr::parse("10.9.0.3"), std::nullopt, 7};
  REQUIRE(store.save(in).ok());
  auto out = store.load();
  REQUIRE(out.ok());
  CHECK(out->at("alice") == in["alice"]);
  CHECK(out->size() == 2);
  ::unlink(path.c_str());
  ::rmdir(dir);
}
