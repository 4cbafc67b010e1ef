// The session driver's decisions: the backoff sequence across failed rounds, the next server or
// address after a failure, giving up when every server refused, stale resolver answers dropped,
// a name's last address used when its lookup fails, a lost session's quick first retry.
#include <catch2/catch.hpp>

#include "client/lifecycle.hpp"
#include "client/session_driver.hpp"

using namespace ptun;
using namespace ptun::client;
using Next = SessionDriver::Next;
using Resolved = SessionDriver::Resolved;

namespace {

config::ServerAddress server(const char* host, uint16_t port = 4433) { return {host, port}; }
Endpoint ep(const char* s) { return *Endpoint::parse(s); }
constexpr uint64_t kCap = 30000;

}  // namespace

TEST_CASE("session driver: a literal is tried at once, failures walk the list, backoff after each round",
          "[client][session_driver]") {
  SessionDriver d({server("198.18.0.1"), server("198.18.0.2", 5555)});
  auto first = d.begin(std::nullopt);
  REQUIRE(first);
  CHECK(*first == ep("198.18.0.1:4433"));
  CHECK_FALSE(d.resolving());

  // Server 1 fails: server 2 at once (same round, no backoff).
  Next n = d.failed("timeout", false, *first, 1000, 0.5, kCap);
  CHECK(n.kind == Next::next_server);
  CHECK(n.server == 1);
  CHECK(n.delay_ms == 0);
  CHECK(d.reconnect_at() == 1000);
  CHECK(d.last_error() == "198.18.0.1:4433: timeout");

  // Then rounds: each wrap backs off, doubling from 500 ms (jitter 0.5: exact), capped.
  std::vector<uint64_t> delays;
  uint64_t now = 1000;
  for (int i = 0; i < 16; ++i) {
    REQUIRE(d.due(now));
    auto e = d.begin(std::nullopt);
    REQUIRE(e);
    n = d.failed("timeout", false, *e, now, 0.5, kCap);
    REQUIRE(n.kind == Next::next_server);
    if (n.delay_ms) delays.push_back(n.delay_ms);
    now = d.reconnect_at();
  }
  CHECK(delays == std::vector<uint64_t>{500, 1000, 2000, 4000, 8000, 16000, 30000, 30000});
  CHECK(d.reconnects() == 17);

  // Established: the backoff starts over, and the error is gone.
  d.begin(std::nullopt);
  d.established();
  CHECK(d.up());
  CHECK(d.last_error().empty());
  auto e = d.begin(std::nullopt);
  d.failed("timeout", false, *e, 0, 0.5, kCap);   // next server, no delay
  e = d.begin(std::nullopt);
  n = d.failed("timeout", false, *e, 0, 0.5, kCap);
  CHECK(n.delay_ms == 500);
}

TEST_CASE("session driver: every server refusing the client gives up, one answering does not",
          "[client][session_driver]") {
  SessionDriver d({server("198.18.0.1"), server("198.18.0.2")});
  auto e = d.begin(std::nullopt);
  CHECK(d.failed("auth_refused", true, *e, 0, 0.5, kCap).kind == Next::next_server);
  e = d.begin(std::nullopt);
  CHECK(d.failed("auth_refused", true, *e, 0, 0.5, kCap).kind == Next::give_up);

  SessionDriver mixed({server("198.18.0.1"), server("198.18.0.2")});
  e = mixed.begin(std::nullopt);
  mixed.failed("auth_refused", true, *e, 0, 0.5, kCap);
  e = mixed.begin(std::nullopt);
  CHECK(mixed.failed("timeout", false, *e, 0, 0.5, kCap).kind == Next::next_server);
}

TEST_CASE("session driver: a name's addresses are tried in order before the next server",
          "[client][session_driver]") {
  SessionDriver d({server("vpn.example"), server("198.18.0.9")});
  CHECK_FALSE(d.begin(std::nullopt));
  REQUIRE(d.resolving());
  uint64_t gen = d.gen();
  Resolved r = d.on_resolved(gen, std::vector<Endpoint>{ep("198.18.0.1:4433"), ep("[2001:db8::1]:4433")});
  REQUIRE(r.kind == Resolved::connect);
  CHECK(r.endpoint == ep("198.18.0.1:4433"));
  CHECK(r.count == 2);
  CHECK(r.changed);
  CHECK_FALSE(d.resolving());

  Next n = d.failed("timeout", false, r.endpoint, 0, 0.5, kCap);
  REQUIRE(n.kind == Next::next_address);
  CHECK(n.endpoint == ep("[2001:db8::1]:4433"));
  CHECK(d.last_error() == "vpn.example:4433 at 198.18.0.1:4433: timeout");
  n = d.failed("timeout", false, n.endpoint, 0, 0.5, kCap);
  CHECK(n.kind == Next::next_server);
  CHECK(n.server == 1);
}

TEST_CASE("session driver: a stale resolver answer is dropped", "[client][session_driver]") {
  SessionDriver d({server("vpn.example")});
  d.begin(std::nullopt);
  uint64_t old_gen = d.gen();
  d.begin(std::nullopt);   // a newer attempt (path change, reload) before the answer came
  CHECK_FALSE(d.wants(old_gen));
  CHECK(d.on_resolved(old_gen, std::vector<Endpoint>{ep("198.18.0.66:4433")}).kind == Resolved::stale);
  CHECK(d.resolving());   // the newer lookup is still wanted
  CHECK(d.on_resolved(d.gen(), std::vector<Endpoint>{ep("198.18.0.1:4433")}).endpoint == ep("198.18.0.1:4433"));

  // Cancelled (`ptun down`): the answer of the lookup in flight is dropped too.
  d.begin(std::nullopt);
  uint64_t gen = d.gen();
  d.stop();
  CHECK(d.on_resolved(gen, std::vector<Endpoint>{ep("198.18.0.1:4433")}).kind == Resolved::stale);
}

TEST_CASE("session driver: a failed lookup falls back to the name's last address, else fails the attempt",
          "[client][session_driver]") {
  SessionDriver d({server("vpn.example")});
  d.begin(std::nullopt);
  Resolved r = d.on_resolved(d.gen(), Error(Errc::io, "vpn.example: no such name"));
  CHECK(r.kind == Resolved::failed);
  CHECK(r.error == "vpn.example: no such name");

  d.begin(std::nullopt);
  REQUIRE(d.on_resolved(d.gen(), std::vector<Endpoint>{ep("198.18.0.1:4433")}).kind == Resolved::connect);
  d.begin(std::nullopt);
  r = d.on_resolved(d.gen(), Error(Errc::io, "vpn.example: temporary failure"));
  REQUIRE(r.kind == Resolved::connect);
  CHECK(r.from_cache);
  CHECK(r.endpoint == ep("198.18.0.1:4433"));
  d.begin(std::nullopt);   // the same answer again is not news
  CHECK_FALSE(d.on_resolved(d.gen(), std::vector<Endpoint>{ep("198.18.0.1:4433")}).changed);
}

TEST_CASE("session driver: a lost session reconnects quickly from the server that worked",
          "[client][session_driver]") {
  SessionDriver d({server("198.18.0.1"), server("198.18.0.2")});
  auto e = d.begin(std::nullopt);
  d.failed("timeout", false, *e, 0, 0.5, kCap);   // on to server 2
  e = d.begin(std::nullopt);
  CHECK(*e == ep("198.18.0.2:4433"));
  d.established();
  CHECK(d.ended(SessionDriver::Why::lost, true, 10000, 0.5, kCap) == SessionDriver::End::reconnect);
  CHECK(d.reconnect_at() == 10500);   // the first retry: 500 ms
  CHECK_FALSE(d.up());
  CHECK(*d.begin(std::nullopt) == ep("198.18.0.2:4433"));   // the server that worked
  CHECK(d.reconnects() == 2);

  // A session that never came up is a failed attempt; one refused while up says so.
  CHECK(d.ended(SessionDriver::Why::lost, false, 0, 0.5, kCap) == SessionDriver::End::attempt_failed);
  d.established();
  CHECK(d.ended(SessionDriver::Why::refused, true, 0, 0.5, kCap) == SessionDriver::End::refused_in_session);
  CHECK_FALSE(d.waiting());
}

TEST_CASE("session driver: a new network hurries the reconnect, stop cancels it", "[client][session_driver]") {
  SessionDriver d({server("198.18.0.1")});
  auto e = d.begin(std::nullopt);
  for (int i = 0; i < 4; ++i) {
    d.failed("timeout", false, *e, 0, 0.5, kCap);
    e = d.begin(std::nullopt);
  }
  Next n = d.failed("timeout", false, *e, 100000, 0.5, kCap);
  CHECK(n.delay_ms == 8000);
  d.hurry(100200);
  CHECK(d.due(100200));
  e = d.begin(std::nullopt);
  CHECK(d.failed("timeout", false, *e, 0, 0.5, kCap).delay_ms == 500);   // backoff starts over
  d.stop();
  CHECK_FALSE(d.waiting());
}

TEST_CASE("session driver: the handshake timeout, a reasserting attempt is short", "[client][session_driver]") {
  SessionDriver one({server("198.18.0.1")});
  one.begin(std::nullopt);
  CHECK(one.handshake_timeout_ms(false) == 30000);
  one.begin(uint64_t(100));   // replaces a session with a 100 ms RTT
  CHECK(one.handshake_timeout_ms(true) == 2900);
  CHECK(one.handshake_timeout_ms(false) == 30000);
  SessionDriver two({server("198.18.0.1"), server("198.18.0.2")});
  CHECK(two.handshake_timeout_ms(false) == 5000);
  two.begin(uint64_t(100));
  CHECK(two.handshake_timeout_ms(true) == 1900);   // others to fail over to: shorter
}

TEST_CASE("session driver: a reload with a new list starts over from its first server, the same list from the last good",
          "[client][session_driver]") {
  SessionDriver d({server("vpn.example"), server("198.18.0.2")});
  d.begin(std::nullopt);
  d.on_resolved(d.gen(), std::vector<Endpoint>{ep("198.18.0.1:4433")});
  d.failed("timeout", false, ep("198.18.0.1:4433"), 0, 0.5, kCap);
  REQUIRE(*d.begin(std::nullopt) == ep("198.18.0.2:4433"));
  d.established();
  d.reload({server("vpn.example"), server("198.18.0.2")});   // same list
  CHECK(d.current().host == "198.18.0.2");
  d.reload({server("vpn.example"), server("198.18.0.3")});   // a new list: nothing known
  CHECK(d.current().host == "vpn.example");
  CHECK(d.servers().size() == 2);
  d.begin(std::nullopt);
  CHECK(d.on_resolved(d.gen(), Error(Errc::io, "down")).kind == Resolved::failed);   // no cached address
}

TEST_CASE("session driver: a session another device took over holds back, longer each time in a row",
          "[client][session_driver]") {
  using Why = SessionDriver::Why;
  SessionDriver d({server("198.18.0.1"), server("198.18.0.2")});
  auto e = d.begin(std::nullopt);
  d.failed("timeout", false, *e, 0, 0.5, kCap);   // on to server 2, which works
  d.begin(std::nullopt);
  d.established();
  CHECK(d.ended(Why::replaced, true, 1000, 0.5, kCap) == SessionDriver::End::replaced);
  CHECK(d.reconnect_at() == 1000 + SessionDriver::kReplacedHoldMs);   // not the quick 0.5 s retry
  d.hurry(2000);   // a new network does not make the other device go away
  CHECK(d.reconnect_at() == 11000);
  CHECK(*d.begin(std::nullopt) == ep("198.18.0.2:4433"));   // back to the server that worked
  d.established();
  CHECK(d.ended(Why::replaced, true, 20000, 0.5, kCap) == SessionDriver::End::replaced);
  CHECK(d.reconnect_at() == 40000);   // 20 s: the second in a row
  d.begin(std::nullopt);
  d.established();
  CHECK(d.ended(Why::replaced, true, 50000, 0.5, 30000) == SessionDriver::End::replaced);
  CHECK(d.reconnect_at() == 80000);   // 40 s, capped by reconnect_max_secs (30 s here)
  CHECK(d.replaced_in_a_row() == 3);

  // Any other end breaks the streak; so does `ptun up`. The hold never goes below 10 s.
  d.begin(std::nullopt);
  d.established();
  CHECK(d.ended(Why::lost, true, 90000, 0.5, kCap) == SessionDriver::End::reconnect);
  CHECK(d.reconnect_at() == 90500);
  CHECK(d.replaced_in_a_row() == 0);
  d.begin(std::nullopt);
  d.established();
  CHECK(d.ended(Why::replaced, true, 100000, 0.5, 1000) == SessionDriver::End::replaced);
  CHECK(d.reconnect_at() == 110000);
  d.hurry(100500);
  CHECK_FALSE(d.due(100500));
  d.start_over();
  CHECK(d.replaced_in_a_row() == 0);
  d.hurry(100600);
  CHECK(d.due(100600));
  // A session that never came up is a failed attempt, whatever its CLOSE said.
  d.begin(std::nullopt);
  CHECK(d.ended(Why::replaced, false, 0, 0.5, kCap) == SessionDriver::End::attempt_failed);
}
