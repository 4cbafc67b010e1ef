// The control facade over a fake source: status / stats / messages / metrics render the parts
// (Lifecycle, SessionDriver, PathWatcher) and the source's facts; the verbs reach the source.
#include <catch2/catch.hpp>

#include "client/control_facade.hpp"

using namespace ptun;
using namespace ptun::client;

namespace {

struct FakeSource final : ControlSource {
  std::optional<SessionFacts> session;
  std::optional<proto::NetworkSettings> settings;
  bool rules = false, paused = false;
  int ups = 0, downs = 0, stops = 0, reloads = 0;
  metrics::Histogram hist{{0.1, 1.0}};

  std::optional<SessionFacts> session_facts() const override { return session; }
  const proto::NetworkSettings* applied_settings() const override { return settings ? &*settings : nullptr; }
  std::string server_endpoint() const override { return "198.18.0.2:4433"; }
  std::string socket_endpoint() const override { return "0.0.0.0:40000"; }
  uint64_t rekeys() const override { return 3; }
  uint64_t rekey_failures() const override { return 1; }
  size_t route_overrides() const override { return 2; }
  uint64_t route_overrides_seen() const override { return 5; }
  bool has_on_demand_rules() const override { return rules; }
  bool on_demand_paused() const override { return paused; }
  std::vector<CertificateExpiry> certificates() const override { return {{"cert", "alice", "01", 2000000000}}; }
  const metrics::Histogram& handshake_seconds() const override { return hist; }
  nlohmann::json mode_section() const override { return {{"mode", "tun"}, {"interface", "ptun0"}}; }
  nlohmann::json transport_section() const override { return {{"transport", "dtls"}, {"tcp", {{"state", "off"}}}}; }
  nlohmann::json host_section() const override { return {{"kill_switch", true}, {"mtu", 1380}}; }
  nlohmann::json counters_section() const override { return {{"drop_not_connected", 7}}; }
  std::optional<nlohmann::json> udp_section() const override { return nlohmann::json{{"rx_truncated", 0}}; }
  std::optional<nlohmann::json> apps_section() override { return std::nullopt; }
  nlohmann::json flows_section() override { return {{"flows", nlohmann::json::array()}}; }
  void more_metrics(metrics::Exposition& m) override { m.counter("ptun_client_fake_total", "A fake's.", 1); }
  void up() override { ++ups; }
  void down() override { ++downs; }
  void stop_client() override { ++stops; }
  Result<nlohmann::json> reload_config() override {
    ++reloads;
    return nlohmann::json{{"reloaded", true}};
  }
};

struct World {
  Lifecycle life;
  SessionDriver driver{{{"198.18.0.1", 4433}, {"198.18.0.2", 4433}}};
  PathWatcher paths;
  FakeSource src;
  ControlFacade facade{life, driver, paths, src};

  World() {
    // Server 1 failed, server 2 is up; one roam; a path.
    auto e = driver.begin(std::nullopt);
    driver.failed("timeout", false, *e, 0, 0.5, 30000);
    driver.begin(std::nullopt);
    driver.established();
    Path p;
    p.ifindex = 3;
    p.ifname = "wlan0";
    p.source = *IpAddr::parse("192.168.1.20");
    p.gateway = *IpAddr::parse("192.168.1.1");
    paths.reset(p);
    paths.roam_started(0, 0);
    paths.on_timer(100, 1, true, true);   // confirmed
    life.go(State::connecting, Reason::user, 1000);
    life.go(State::connected, Reason::established, 2000);
  }
};

SessionFacts facts() {
  SessionFacts f;
  f.id = 0xabcdef0123456789ull;
  f.cipher = "ECDHE-ECDSA-AES128-GCM";
  f.stats.bytes_in = 100;
  f.stats.bytes_out = 200;
  f.stats.rtt_us_smoothed = 12500;
  f.established_ms = 2000;
  f.server_time = 1700000010;
  f.settings_at_ms = 2000;
  return f;
}

}  // namespace

TEST_CASE("control facade: status renders the parts and the source's sections", "[client][control_facade]") {
  World w;
  w.src.session = facts();
  auto j = w.facade.status(12000, 1700000010);   // 10 s after the SETTINGS, our clock 10 s behind
  CHECK(j["role"] == "client");
  CHECK(j["state"] == "connected");
  CHECK(j["since_s"] == 10);
  CHECK(j["reason"] == "established");
  CHECK(j["server"] == "198.18.0.2:4433");
  CHECK(j["endpoint"] == "198.18.0.2:4433");
  CHECK(j["servers"] == nlohmann::json::array({"198.18.0.1:4433", "198.18.0.2:4433"}));
  CHECK_FALSE(j.contains("last_error"));   // established
  CHECK(j["reconnects"] == 1);
  CHECK(j["roams"] == 1);
  CHECK(j["rekeys"] == 3);
  CHECK(j["rekey_failures"] == 1);
  CHECK(j["path"] == "wlan0 src 192.168.1.20");
  CHECK_FALSE(j.contains("on_demand"));
  CHECK(j["session_id"] == "abcdef0123456789");
  CHECK(j["session_uptime_s"] == 10);
  CHECK(j["cipher"] == "ECDHE-ECDSA-AES128-GCM");
  CHECK(j["clock_skew_s"] == 10);
  CHECK(j["rtt_ms"] == 12.5);
  w.src.session->stats.rtt_us_smoothed = 0;   // no PING answered yet: no RTT, not 0.00 ms
  CHECK_FALSE(w.facade.status(12000, 1700000010).contains("rtt_ms"));
  CHECK(j["bytes_in"] == 100);
  // The sections, merged as they are.
  CHECK(j["mode"] == "tun");
  CHECK(j["interface"] == "ptun0");
  CHECK(j["transport"] == "dtls");
  CHECK(j["kill_switch"] == true);
  CHECK(j["mtu"] == 1380);
  CHECK(j["counters"]["drop_not_connected"] == 7);
  CHECK_FALSE(j.contains("apps"));

  w.src.rules = true;
  ondemand::Network net;
  net.interface = "wlan0";
  w.paths.network_seen(net, false);
  w.paths.decided({ondemand::Decision::connect, 2, {}});
  CHECK(w.facade.status(12000, 0)["on_demand"] == "rule 2 on wlan0");
  w.src.paused = true;
  CHECK(w.facade.status(12000, 0)["on_demand"] == "paused (ptun down)");
}

TEST_CASE("control facade: while resolving and after a failure, status says so", "[client][control_facade]") {
  Lifecycle life;
  SessionDriver driver{{{"vpn.example", 4433}}};
  PathWatcher paths;
  FakeSource src;
  ControlFacade f(life, driver, paths, src);
  driver.begin(std::nullopt);
  auto j = f.status(0, 0);
  CHECK(j["resolving"] == "vpn.example");
  CHECK_FALSE(j.contains("servers"));
  CHECK_FALSE(j.contains("session_id"));
  CHECK(j["path"] == "none");
  driver.on_resolved(driver.gen(), Error(Errc::io, "no such name"));
  driver.failed("no such name", false, Endpoint{}, 0, 0.5, 30000);
  j = f.status(0, 0);
  CHECK_FALSE(j.contains("resolving"));
  CHECK(j["last_error"] == "vpn.example:4433: no such name");
}

TEST_CASE("control facade: commands reach the source's verbs", "[client][control_facade]") {
  World w;
  auto r = w.facade.handle({"down", {}}, 0, 0);
  REQUIRE(r);
  CHECK((*r)["state"] == "connected");   // the fake's down() changes no state
  CHECK(w.src.downs == 1);
  REQUIRE(w.facade.handle({"up", {}}, 0, 0));
  CHECK(w.src.ups == 1);
  r = w.facade.handle({"stop", {}}, 0, 0);
  REQUIRE(r);
  CHECK((*r)["stopping"] == true);
  CHECK(w.src.stops == 1);
  r = w.facade.handle({"reload", {}}, 0, 0);
  REQUIRE(r);
  CHECK(w.src.reloads == 1);
  CHECK(w.facade.handle({"flows", {}}, 0, 0));
  CHECK((*w.facade.handle({"status", {}}, 0, 0))["role"] == "client");
  auto bad = w.facade.handle({"frobnicate", {}}, 0, 0);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::invalid_argument);
}

TEST_CASE("control facade: provider messages", "[client][control_facade]") {
  World w;
  auto m = [&](nlohmann::json args) { return w.facade.message(args); };
  CHECK((*m({{"message", "echo"}, {"data", 42}}))["echo"] == 42);
  auto p = m({{"message", "path"}});
  REQUIRE(p);
  CHECK((*p)["interface"] == "wlan0");
  CHECK((*p)["ifindex"] == 3);
  CHECK((*p)["source"] == "192.168.1.20");
  CHECK((*p)["gateway"] == "192.168.1.1");
  CHECK((*p)["local"] == "0.0.0.0:40000");
  REQUIRE(m({{"message", "network"}}));
  auto h = m({{"message", "history"}});
  REQUIRE(h);
  REQUIRE(h->size() == 2);
  CHECK((*h)[1]["to"] == "connected");
  auto s = m({{"message", "settings"}});
  REQUIRE_FALSE(s);
  CHECK(s.error().code == Errc::not_found);
  proto::NetworkSettings ns;
  ns.ipv4 = *Cidr::parse_interface("10.99.0.2/24");
  ns.mtu = 1400;
  w.src.settings = ns;
  s = m({{"message", "settings"}});
  REQUIRE(s);
  CHECK((*s)["ipv4"] == "10.99.0.2/24");
  CHECK((*s)["mtu"] == 1400);
  CHECK_FALSE(m({{"message", "nope"}}));
  CHECK_FALSE(m({{"nomessage", 1}}));
}

TEST_CASE("control facade: stats and the metrics' names and values", "[client][control_facade]") {
  World w;
  w.src.session = facts();
  auto st = w.facade.stats();
  CHECK(st["reconnects"] == 1);
  CHECK(st["roams"] == 1);
  CHECK(st["roam_failures"] == 0);
  CHECK(st["path_changes"] == 0);
  CHECK(st["session"]["rtt_us"] == 12500);
  CHECK(st["udp"]["rx_truncated"] == 0);
  CHECK(st["history"].size() == 2);

  std::string text = w.facade.metrics(12000);
  auto has = [&](const std::string& line) {
    INFO(line);
    return text.find("\n" + line + "\n") != std::string::npos;
  };
  // The names docs/metrics.md lists for the client, with the parts' values.
  CHECK(has("ptun_client_state{state=\"connected\"} 1"));
  CHECK(has("ptun_client_reconnects_total 1"));
  CHECK(has("ptun_client_roams_total 1"));
  CHECK(has("ptun_client_roam_failures_total 0"));
  CHECK(has("ptun_client_path_changes_total 0"));
  CHECK(has("ptun_client_rekeys_total 3"));
  CHECK(has("ptun_client_rekey_failures_total 1"));
  CHECK(has("ptun_client_route_overrides 2"));
  CHECK(has("ptun_client_route_overrides_total 5"));
  CHECK(has("ptun_client_received_bytes_total 100"));
  CHECK(has("ptun_client_session_uptime_seconds 10"));
  CHECK(has("ptun_client_handshake_duration_seconds_count 0"));
  CHECK(has("ptun_client_fake_total 1"));
}
