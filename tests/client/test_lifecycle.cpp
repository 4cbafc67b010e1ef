// The lifecycle state machine as a table: every (from, to) pair, allowed or not; and the reconnect
// backoff's growth, cap and jitter bounds.
#include <catch2/catch.hpp>

#include "client/lifecycle.hpp"

using namespace ptun::client;

namespace {
constexpr State kAll[] = {State::disconnected, State::connecting, State::connected, State::reasserting,
                          State::disconnecting};
}

TEST_CASE("lifecycle: the transition table", "[client][lifecycle]") {
  using S = State;
  // {from, to}: the only edges there are.
  const std::pair<S, S> edges[] = {
      {S::disconnected, S::connecting},  {S::connecting, S::connected},     {S::connecting, S::disconnecting},
      {S::connected, S::reasserting},    {S::connected, S::disconnecting},  {S::reasserting, S::connected},
      {S::reasserting, S::disconnecting}, {S::disconnecting, S::disconnected}};
  for (S from : kAll)
    for (S to : kAll) {
      bool want = false;
      for (const auto& e : edges) want = want || (e.first == from && e.second == to);
      INFO(to_string(from) << " -> " << to_string(to));
      CHECK(Lifecycle::allowed(from, to) == want);
    }
}

TEST_CASE("lifecycle: go() follows the table and records reasons", "[client][lifecycle]") {
  Lifecycle l;
  CHECK(l.state() == State::disconnected);
  CHECK_FALSE(l.go(State::connected, Reason::established, 5));   // must connect first
  CHECK(l.state() == State::disconnected);
  CHECK(l.go(State::connecting, Reason::user, 10));
  CHECK(l.go(State::connected, Reason::established, 20));
  CHECK(l.go(State::reasserting, Reason::network_change, 30, "path changed"));
  CHECK_FALSE(l.go(State::reasserting, Reason::server_gone, 31));   // already there: no change
  CHECK(l.reason() == Reason::network_change);
  CHECK(l.detail() == "path changed");
  CHECK(l.since_ms() == 30);
  CHECK(l.go(State::connected, Reason::roamed, 40));
  CHECK(l.go(State::disconnecting, Reason::user, 50));
  CHECK_FALSE(l.go(State::connecting, Reason::user, 55));
  CHECK(l.go(State::disconnected, Reason::user, 60));
  REQUIRE(l.history().size() == 6);
  CHECK(l.history()[2].from == State::connected);
  CHECK(l.history()[2].to == State::reasserting);
  CHECK(l.history()[2].reason == Reason::network_change);
  CHECK(l.history()[2].at_ms == 30);
}

TEST_CASE("lifecycle: history is bounded to the last 32 transitions", "[client][lifecycle]") {
  Lifecycle l;
  l.go(State::connecting, Reason::user, 0);
  l.go(State::connected, Reason::established, 1);
  for (uint64_t i = 0; i < 100; ++i) {
    l.go(State::reasserting, Reason::server_gone, 2 + 2 * i);
    l.go(State::connected, Reason::established, 3 + 2 * i);
  }
  CHECK(l.history().size() == 32);
  CHECK(l.history().back().at_ms == 201);
}

TEST_CASE("lifecycle: every state and reason has a name", "[client][lifecycle]") {
  for (State s : kAll) CHECK(std::string(to_string(s)) != "?");
  for (Reason r : {Reason::none, Reason::user, Reason::config, Reason::network_change, Reason::server_gone,
                   Reason::auth_refused, Reason::reconnect, Reason::established, Reason::fatal, Reason::on_demand,
                   Reason::reload, Reason::roamed})
    CHECK(std::string(to_string(r)) != "?");
}

TEST_CASE("backoff: exponential from 500 ms, capped, jitter within +-25%", "[client][lifecycle]") {
  CHECK(backoff_ms(0, 30000, 0.5) == 500);
  CHECK(backoff_ms(1, 30000, 0.5) == 1000);
  CHECK(backoff_ms(3, 30000, 0.5) == 4000);
  CHECK(backoff_ms(20, 30000, 0.5) == 30000);
  CHECK(backoff_ms(1000, 30000, 0.5) == 30000);   // no overflow for huge attempt counts
  CHECK(backoff_ms(0, 30000, 0.0) == 375);
  CHECK(backoff_ms(0, 30000, 1.0) == 625);
  CHECK(backoff_ms(10, 2000, 1.0) == 2500);
  CHECK(backoff_ms(10, 2000, 7.0) == 2500);       // rand01 outside [0,1] is clamped
  for (uint32_t a = 0; a < 40; ++a)
    for (double r : {0.0, 0.3, 0.99}) {
      uint64_t d = backoff_ms(a, 8000, r);
      CHECK(d >= 100);
      CHECK(d <= 10000);
    }
}
