// Failover order: which server comes next, when the list wraps (backoff), where a new round
// starts, and the per-server handshake timeout.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "client/server_list.hpp"

using namespace ptun::client;

TEST_CASE("server list: tried in order, wraps after a full round", "[client][server_list]") {
  ServerList s(3);
  CHECK(s.current() == 0);
  // {next, wrapped} after each failure, from a fresh list.
  const std::pair<size_t, bool> want[] = {{1, false}, {2, false}, {0, true}, {1, false}, {2, false}, {0, true}};
  for (size_t i = 0; i < std::size(want); ++i) {
    INFO("failure " << i);
    auto st = s.on_failure();
    CHECK(st.next == want[i].first);
    CHECK(st.wrapped == want[i].second);
    CHECK(s.current() == want[i].first);
  }
  CHECK(s.failed_rounds() == 2);
  CHECK(s.last_good() == 0);
}

TEST_CASE("server list: a lost session starts the next round with the server that worked", "[client][server_list]") {
  ServerList s(3);
  s.on_failure();           // 0 down
  CHECK(s.current() == 1);
  s.on_established();       // 1 works
  CHECK(s.last_good() == 1);
  CHECK(s.failed_rounds() == 0);
  s.restart();              // the session was lost
  CHECK(s.current() == 1);
  // The round is 1, 2, 0 and wraps back at 1, not at 0.
  auto a = s.on_failure();
  auto b = s.on_failure();
  auto c = s.on_failure();
  CHECK((a.next == 2 && !a.wrapped));
  CHECK((b.next == 0 && !b.wrapped));
  CHECK((c.next == 1 && c.wrapped));
  // A restart mid-round (new network) goes back to the last good one and forgets the failures.
  s.on_failure();
  CHECK(s.current() == 2);
  s.restart();
  CHECK(s.current() == 1);
  CHECK(s.failed_rounds() == 0);
}

TEST_CASE("server list: one server wraps on every failure, reset starts over", "[client][server_list]") {
  ServerList one(1);
  for (int i = 0; i < 3; ++i) {
    auto st = one.on_failure();
    CHECK(st.next == 0);
    CHECK(st.wrapped);
  }
  ServerList zero(0);   // treated as one
  CHECK(zero.size() == 1);
  CHECK(zero.on_failure().wrapped);

  ServerList s(4);
  s.on_failure();
  s.on_failure();
  s.on_established();
  s.reset(2);
  CHECK(s.size() == 2);
  CHECK(s.current() == 0);
  CHECK(s.last_good() == 0);
  CHECK_FALSE(s.on_failure().wrapped);
  CHECK(s.on_failure().wrapped);
}

TEST_CASE("server list: handshake timeout per server", "[client][server_list]") {
  ServerList one(1);
  CHECK(one.handshake_timeout_ms() == 30000);
  one.on_failure();
  CHECK(one.handshake_timeout_ms() == 30000);

  ServerList s(2);
  const uint32_t want[] = {5000, 10000, 20000, 30000, 30000, 30000};
  for (uint32_t w : want) {
    CHECK(s.handshake_timeout_ms() == w);
    s.on_failure();
    s.on_failure();   // a full round of two
  }
  s.on_established();
  CHECK(s.handshake_timeout_ms() == 5000);
}

TEST_CASE("server list: random event sequences against a reference model", "[client][server_list]") {
  std::mt19937 rng(15);
  for (int trial = 0; trial < 200; ++trial) {
    size_t n = 1 + rng() % 5;
    ServerList s(n);
    // Reference: the round's first server and how many failures since it began.
    size_t start = 0, good = 0, cur = 0, since = 0;
    for (int step = 0; step < 100; ++step) {
      switch (rng() % 6) {
        case 0:
          s.on_established();
          good = start = cur;
          since = 0;
          break;
        case 1:
          s.restart();
          cur = start = good;
          since = 0;
          break;
        default: {
          auto st = s.on_failure();
          cur = (cur + 1) % n;
          ++since;
          bool wrapped = since % n == 0;
          REQUIRE(st.next == cur);
          REQUIRE(st.wrapped == wrapped);
          REQUIRE(cur == (start + since) % n);
        }
      }
      REQUIRE(s.current() == cur);
      REQUIRE(s.last_good() == good);
    }
  }
}

TEST_CASE("server list: every address of a server before the next server", "[client][server_list]") {
  ServerList s(2);
  s.set_addresses(3);   // server 0 resolved to three addresses
  CHECK(s.address() == 0);
  auto a = s.on_failure();
  CHECK((a.next == 0 && a.next_address && !a.wrapped && s.address() == 1));
  auto b = s.on_failure();
  CHECK((b.next == 0 && b.next_address && s.address() == 2));
  auto c = s.on_failure();   // the last address of 0: server 1, its first address
  CHECK((c.next == 1 && !c.next_address && !c.wrapped && s.address() == 0 && s.addresses() == 1));
  auto d = s.on_failure();   // 1 (one address) failed too: the round wraps
  CHECK((d.next == 0 && d.wrapped && !d.next_address));
  CHECK(s.failed_rounds() == 1);
  // A name that did not resolve has no address to move along: straight to the next server.
  s.set_addresses(0);
  auto e = s.on_failure();
  CHECK((e.next == 1 && !e.next_address));
}

TEST_CASE("server list: one server with several addresses gets the short timeout", "[client][server_list]") {
  ServerList one(1);
  CHECK(one.handshake_timeout_ms() == 30000);
  one.set_addresses(2);
  CHECK(one.handshake_timeout_ms() == 5000);   // a dead first address costs seconds
  one.on_failure();                            // the second address
  CHECK(one.handshake_timeout_ms() == 5000);
  one.on_failure();                            // wrapped: the next round waits longer
  one.set_addresses(2);
  CHECK(one.handshake_timeout_ms() == 10000);
  one.on_established();
  CHECK(one.handshake_timeout_ms() == 30000);  // back to one address until the next lookup
}

TEST_CASE("server list: a refusal moves on, a round of refusals only is all_refused", "[client][server_list]") {
  ServerList s(3);
  auto a = s.on_failure(true);    // 0 refuses (e.g. not yet updated with this client's certificate)
  CHECK((a.next == 1 && !a.wrapped && !a.all_refused));
  auto b = s.on_failure(false);   // 1 does not answer
  auto c = s.on_failure(true);    // 2 refuses: a mixed round is not all_refused
  CHECK((b.next == 2 && c.next == 0 && c.wrapped && !c.all_refused));
  auto d = s.on_failure(true);
  auto e = s.on_failure(true);
  auto f = s.on_failure(true);    // every server refused this round
  CHECK((!d.all_refused && !e.all_refused && f.wrapped && f.all_refused));
  // One server: a refusal is at once a round of refusals (the old behaviour: give up).
  ServerList one(1);
  CHECK(one.on_failure(true).all_refused);
  CHECK_FALSE(one.on_failure(false).all_refused);
  // A restart forgets the round's refusals.
  ServerList r(2);
  r.on_failure(true);
  r.restart();
  r.on_failure(true);
  CHECK_FALSE(r.on_failure(false).all_refused);
}
