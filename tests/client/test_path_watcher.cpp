// The path watcher's decisions: what a path change does to the session, the roam's PING / PONG
// / give-up sequence, when the on-demand rules run again, and one evaluation's bounded probe loop.
#include <catch2/catch.hpp>

#include "client/path_watcher.hpp"

using namespace ptun;
using namespace ptun::client;
using Change = PathWatcher::Change;
using Step = PathWatcher::RoamStep;

namespace {

Path path(int ifindex, const char* name, const char* src) {
  Path p;
  p.ifindex = ifindex;
  p.ifname = name;
  p.source = *IpAddr::parse(src);
  return p;
}

const Path kWifi = path(3, "wlan0", "192.168.1.20");
const Path kLte = path(4, "wwan0", "100.64.0.9");

}  // namespace

TEST_CASE("path watcher: a changed path moves, restarts or hurries the session by its phase",
          "[client][path_watcher]") {
  PathWatcher w;
  w.reset(kWifi);
  CHECK(w.path_changes() == 0);   // the starting point is not a change
  CHECK(w.on_path(kWifi, true, SessionPhase::established) == Change::none);
  CHECK(w.path_changes() == 0);

  CHECK(w.on_path(kLte, true, SessionPhase::established) == Change::roam);
  CHECK(w.on_path(kWifi, true, SessionPhase::waiting_to_reconnect) == Change::reconnect_now);
  CHECK(w.on_path(kLte, true, SessionPhase::handshaking) == Change::restart_handshake);
  CHECK(w.on_path(kWifi, true, SessionPhase::idle) == Change::none);
  CHECK(w.path_changes() == 4);
  CHECK(w.path() == kWifi);

  // Down on purpose: the change is seen and counted, the session is left alone.
  CHECK(w.on_path(kLte, false, SessionPhase::established) == Change::none);
  CHECK(w.path_changes() == 5);
  CHECK(w.path() == kLte);
}

TEST_CASE("path watcher: no route keeps the session and stops a roam", "[client][path_watcher]") {
  PathWatcher w;
  w.reset(kWifi);
  REQUIRE(w.on_path(kLte, true, SessionPhase::established) == Change::roam);
  w.roam_started(1000, 5);
  REQUIRE(w.roaming());
  CHECK(w.on_path(Path{}, true, SessionPhase::established) == Change::no_route);
  CHECK_FALSE(w.roaming());
  CHECK(w.deadline() == UINT64_MAX);
  CHECK(w.path().str() == "none");
  CHECK(kLte.str() == "wwan0 src 100.64.0.9");
}

TEST_CASE("path watcher: a roam is confirmed by a PONG newer than its start", "[client][path_watcher]") {
  PathWatcher w;
  w.roam_started(1000, 7);   // 7 PONGs before the move
  CHECK(w.deadline() == 1000 + PathWatcher::kRoamPingMs);
  CHECK_FALSE(w.confirmed(7, true));
  CHECK(w.on_timer(1500, 7, true, true) == Step::wait);
  CHECK_FALSE(w.confirmed(8, false));   // a PONG of a session that has ended confirms nothing
  CHECK(w.confirmed(8, true));
  CHECK(w.on_timer(1600, 8, true, true) == Step::confirmed);   // before the deadline: at once
  CHECK_FALSE(w.roaming());
  CHECK(w.roams() == 1);
  CHECK(w.roam_failures() == 0);
  CHECK(w.on_timer(5000, 9, true, true) == Step::wait);   // over
}

TEST_CASE("path watcher: unanswered, a roam pings kRoamPings times then gives up", "[client][path_watcher]") {
  PathWatcher w;
  w.roam_started(0, 2);
  std::vector<Step> steps;
  std::vector<uint64_t> at;
  for (uint64_t now = 0; now <= 10000 && w.roaming(); now += 250) {
    Step s = w.on_timer(now, 2, true, true);
    if (s == Step::wait) continue;
    steps.push_back(s);
    at.push_back(now);
  }
  static_assert(PathWatcher::kRoamPings == 3);
  CHECK(steps == std::vector<Step>{Step::ping, Step::ping, Step::give_up});
  CHECK(at == std::vector<uint64_t>{1000, 2000, 3000});
  CHECK(w.pings() == PathWatcher::kRoamPings);
  CHECK(w.roam_failures() == 1);
  CHECK(w.roams() == 0);
  CHECK(w.deadline() == UINT64_MAX);

  // A failed rebind counts as a failed roam too.
  w.roam_failed();
  CHECK(w.roam_failures() == 2);
}

TEST_CASE("path watcher: a roam whose session went is dropped, not failed", "[client][path_watcher]") {
  PathWatcher w;
  w.roam_started(0, 0);
  CHECK(w.on_timer(1000, 0, false, false) == Step::dropped);
  CHECK_FALSE(w.roaming());
  CHECK(w.roam_failures() == 0);
  w.roam_started(0, 0);
  w.cancel();   // `ptun down`, a new session
  CHECK(w.on_timer(1000, 1, true, true) == Step::wait);
  CHECK(w.roams() == 0);
}

TEST_CASE("path watcher: the on-demand rules run at the first look, on a new network, when forced",
          "[client][path_watcher]") {
  PathWatcher w;
  ondemand::Network home;
  home.interface = "wlan0";
  home.type = ondemand::IfType::wifi;
  home.search_domains = {"home.arpa"};
  ondemand::Network cafe = home;
  cafe.search_domains = {"cafe.example"};
  CHECK(w.network_seen(home, false));
  CHECK_FALSE(w.network_seen(home, false));
  CHECK(w.network_seen(home, true));   // reload, `ptun up`
  CHECK(w.network_seen(cafe, false));
  CHECK(w.network().search_domains == std::vector<std::string>{"cafe.example"});
  ondemand::Decision d{ondemand::Decision::connect, 2, {}};
  w.decided(d);
  CHECK(w.decision().rule == 2);
}

TEST_CASE("on-demand round: probes asked in turn, answered, then decided", "[client][path_watcher]") {
  ondemand::Rule r;
  r.action = ondemand::Action::evaluate;
  r.required_url = "http://intranet.example/";
  ondemand::Rule fallback;
  fallback.action = ondemand::Action::disconnect;
  std::vector<ondemand::Rule> rules = {r, fallback};
  ondemand::Network net;
  net.interface = "eth0";
  net.type = ondemand::IfType::ethernet;

  SECTION("unreachable without the tunnel: connect") {
    OnDemandRound round(rules, net);
    auto d = round.next();
    REQUIRE(d.kind == ondemand::Decision::probe);
    CHECK(d.url == "http://intranet.example/");
    round.probed(d.url, false);
    d = round.next();
    CHECK(d.kind == ondemand::Decision::connect);
    CHECK(d.rule == 0);
  }
  SECTION("reachable: the rule does not connect") {
    OnDemandRound round(rules, net);
    round.probed(round.next().url, true);
    CHECK(round.next().kind != ondemand::Decision::connect);
    CHECK(round.next().kind != ondemand::Decision::probe);
  }
}

TEST_CASE("on-demand round: a probe loop is bounded by kMaxProbes", "[client][path_watcher]") {
  // Each rule probes its own URL: more rules than the bound allows probes for.
  std::vector<ondemand::Rule> rules;
  for (int i = 0; i < 40; ++i) {
    ondemand::Rule r;
    r.action = ondemand::Action::connect;
    r.probe_url = "http://probe" + std::to_string(i) + ".example/";
    rules.push_back(r);
  }
  ondemand::Network net;
  OnDemandRound round(rules, net);
  int probes = 0;
  ondemand::Decision d = round.next();
  while (d.kind == ondemand::Decision::probe && probes < 100) {
    round.probed(d.url, false);   // never matches: the next rule wants its probe
    ++probes;
    d = round.next();
  }
  CHECK(probes == OnDemandRound::kMaxProbes);
  CHECK(d.kind == ondemand::Decision::keep);
  CHECK(d.rule == -1);
}
