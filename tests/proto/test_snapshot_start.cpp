// ClientSession::start_from_snapshot and ServerEndpoint::adopt_snapshot (the fuzz harnesses' way
// past the handshake): both ends restored from one frozen association finish the ptun exchange
// (CLIENT_HELLO, SETTINGS) and carry packets both ways; a snapshot that does not load is refused.
#include <catch2/catch.hpp>

#include <cstring>
#include <deque>

#include "../tls/dtls_pair.hpp"
#include "../tls/tls_fixture.hpp"
#include "proto/client_session.hpp"
#include "proto/server_endpoint.hpp"

using namespace ptun;
using namespace ptun::proto;
using tls::testing::DtlsPair;
using tls::testing::TestPki;

namespace {

const Endpoint kClient = *Endpoint::parse("192.0.2.7:54321");

struct Frozen {
  DtlsPair pair;
  tls::DtlsSnapshot client, server;
  Frozen() : pair(TestPki::get().creds(TestPki::get().client), TestPki::get().creds(TestPki::get().server)) {
    pair.start();
    pair.client->keep_keys_for_snapshot();
    for (int i = 0; i < 100 && !pair.server; ++i) {
      REQUIRE(!pair.to_server.empty());
      auto d = std::move(pair.to_server.front());
      pair.to_server.pop_front();
      pair.deliver_to_server(d);
      while (!pair.to_client.empty()) {
        auto r = std::move(pair.to_client.front());
        pair.to_client.pop_front();
        pair.deliver_to_client(r);
      }
    }
    REQUIRE(pair.server);
    pair.server->keep_keys_for_snapshot();
    REQUIRE(pair.handshake());
    const uint8_t x[1] = {0};
    REQUIRE(pair.client->write(x, pair.now));
    pair.pump();
    REQUIRE(pair.server->write(x, pair.now));
    pair.pump();
    auto c = pair.client->snapshot();
    auto s = pair.server->snapshot();
    REQUIRE(c);
    REQUIRE(s);
    client = std::move(*c);
    server = std::move(*s);
  }
};

struct Both : ClientSession::Callbacks, ServerEndpoint::Callbacks {
  std::deque<std::vector<uint8_t>> c2s, s2c;
  std::vector<std::vector<uint8_t>> client_got, server_got;
  int client_established = 0, server_established = 0, server_closed = 0;
  NetworkSettings settings;
  void send_datagram(std::span<const uint8_t> d) override { c2s.emplace_back(d.begin(), d.end()); }
  void deliver_packet(std::span<const uint8_t> ip) override { client_got.emplace_back(ip.begin(), ip.end()); }
  void on_established(const NetworkSettings& s) override {
    ++client_established;
    settings = s;
  }
  void on_closed(CloseReason, const std::string&) override {}
  Endpoint roam_to;  // a second address the client may use (the reset test)
  void send_datagram(const Endpoint& to, std::span<const uint8_t> d) override {
    CHECK((to == kClient || to == roam_to));
    s2c.emplace_back(d.begin(), d.end());
  }
  void deliver_packet(uint64_t, std::span<const uint8_t> ip) override { server_got.emplace_back(ip.begin(), ip.end()); }
  Result<NetworkSettings> authorize(uint64_t, const std::string& cn, const ClientHello&, CloseReason*) override {
    CHECK(cn == "alice");
    NetworkSettings s;
    s.ipv4 = Cidr{IpAddr::v4(0x0a630002u), 24};
    s.included_routes = {*Cidr::parse("0.0.0.0/0")};
    return s;
  }
  void on_established(uint64_t, const std::string&, const Endpoint&) override { ++server_established; }
  void on_roamed(uint64_t, const Endpoint&) override {}
  void on_closed(uint64_t, CloseReason, const SessionStats&) override { ++server_closed; }

  void pump(ClientSession& c, ServerEndpoint& s, uint64_t now) {
    for (int i = 0; i < 50 && (!c2s.empty() || !s2c.empty()); ++i) {
      while (!c2s.empty()) {
        auto d = std::move(c2s.front());
        c2s.pop_front();
        s.on_datagram(kClient, d, now);
      }
      while (!s2c.empty()) {
        auto d = std::move(s2c.front());
        s2c.pop_front();
        c.on_datagram(d, now);
      }
    }
  }
};

}  // namespace

TEST_CASE("snapshot start: restored client and server finish the exchange and carry packets", "[proto][snapshot]") {
  Frozen f;
  Both b;
  SeededRng rng(7);
  uint64_t now = 5'000'000;
  ClientSession client(f.pair.client_cfg, "vpn.example.org", "test", rng, b);
  client.start_from_snapshot(f.client, now);
  REQUIRE(client.state() == ClientSession::State::waiting_settings);
  REQUIRE(b.c2s.size() == 1);  // the CLIENT_HELLO, sealed with the restored keys

  ServerEndpoint server(f.pair.server_cfg, b, ServerEndpoint::Limits{});
  REQUIRE(server.adopt_snapshot(kClient, client.session_id(), f.server, now));
  CHECK_FALSE(server.adopt_snapshot(kClient, client.session_id(), f.server, now));  // id taken
  CHECK(server.half_open_count() == 1);
  auto info = server.session(client.session_id());
  REQUIRE(info);
  CHECK(info->state == ServerSessionState::waiting_hello);
  CHECK(info->peer_cn == "alice");

  b.pump(client, server, now);
  REQUIRE(client.state() == ClientSession::State::established);
  CHECK(b.client_established == 1);
  CHECK(b.server_established == 1);
  CHECK(server.half_open_count() == 0);
  CHECK(b.settings.ipv4 == (Cidr{IpAddr::v4(0x0a630002u), 24}));

  std::vector<uint8_t> up{0x45, 0, 0, 20, 1, 2, 3, 4}, down{0x45, 0, 0, 20, 9, 8, 7, 6};
  REQUIRE(client.send_packet(up, now));
  REQUIRE(server.send_packet(client.session_id(), down, now));
  b.pump(client, server, now);
  REQUIRE(b.server_got.size() == 1);
  CHECK(b.server_got[0] == up);
  REQUIRE(b.client_got.size() == 1);
  CHECK(b.client_got[0] == down);
}

TEST_CASE("snapshot start: a snapshot that does not load is refused", "[proto][snapshot]") {
  Frozen f;
  Both b;
  SeededRng rng(7);
  tls::DtlsSnapshot junk;
  junk.context = {0xde, 0xad};
  ClientSession client(f.pair.client_cfg, "vpn.example.org", "test", rng, b);
  client.start_from_snapshot(junk, 1000);
  CHECK(client.state() == ClientSession::State::closed);
  CHECK(client.close_reason() == CloseReason::handshake_failed);
  ServerEndpoint server(f.pair.server_cfg, b, ServerEndpoint::Limits{});
  CHECK_FALSE(server.adopt_snapshot(kClient, 42, junk, 1000));
  CHECK(server.session_count() == 0);
}

namespace {

// One run of the exchange above against `server`: what the server sent, byte for byte.
std::vector<std::vector<uint8_t>> exchange(const Frozen& f, ServerEndpoint& server, Both& b) {
  SeededRng rng(7);
  const uint64_t now = 5'000'000;
  ClientSession client(f.pair.client_cfg, "vpn.example.org", "test", rng, b);
  client.start_from_snapshot(f.client, now);
  REQUIRE(server.adopt_snapshot(kClient, client.session_id(), f.server, now));
  std::vector<std::vector<uint8_t>> sent;
  for (int i = 0; i < 50 && (!b.c2s.empty() || !b.s2c.empty()); ++i) {
    while (!b.c2s.empty()) {
      auto d = std::move(b.c2s.front());
      b.c2s.pop_front();
      server.on_datagram(kClient, d, now);
    }
    while (!b.s2c.empty()) {
      sent.push_back(b.s2c.front());
      auto d = std::move(b.s2c.front());
      b.s2c.pop_front();
      client.on_datagram(d, now);
    }
  }
  REQUIRE(client.state() == ClientSession::State::established);
  const uint8_t down[8] = {0x45, 0, 0, 20, 9, 8, 7, 6};
  REQUIRE(server.send_packet(client.session_id(), down, now));
  // The client moves: the server challenges the new address (a PING with the endpoint's next
  // challenge value).
  b.roam_to = *Endpoint::parse("192.0.2.8:1000");
  const uint8_t up[8] = {0x45, 0, 0, 20, 1, 2, 3, 4};
  REQUIRE(client.send_packet(up, now));
  REQUIRE(b.c2s.size() == 1);
  server.on_datagram(b.roam_to, b.c2s.front(), now + 10);
  b.c2s.clear();
  REQUIRE(server.counters().roam_challenges == 1);
  sent.insert(sent.end(), b.s2c.begin(), b.s2c.end());
  b.s2c.clear();
  return sent;
}

}  // namespace

TEST_CASE("snapshot start: a reset endpoint behaves as a new one", "[proto][snapshot]") {
  Frozen f;
  Both b;
  ServerEndpoint::Limits limits;
  limits.max_sessions = 4;
  limits.per_source_hs_per_sec = 2;
  ServerEndpoint fresh(f.pair.server_cfg, b, limits);
  auto want = exchange(f, fresh, b);
  REQUIRE(!want.empty());

  ServerEndpoint used(f.pair.server_cfg, b, limits);
  (void)exchange(f, used, b);
  // More state: a second session, rejected datagrams, a half-open handshake from another source.
  REQUIRE(used.adopt_snapshot(*Endpoint::parse("198.51.100.1:4000"), 77, f.server, 5'000'000));
  const uint8_t junk[3] = {1, 2, 3};
  used.on_datagram(kClient, junk, 5'000'000);
  REQUIRE(used.session_count() == 2);
  REQUIRE(used.half_open_count() == 1);
  REQUIRE(used.counters().bad_header == 1);
  REQUIRE(used.next_deadline() != UINT64_MAX);

  int closed = b.server_closed;
  used.reset();
  CHECK(b.server_closed == closed);  // dropped without a word
  CHECK(b.s2c.empty());
  CHECK(used.session_count() == 0);
  CHECK(used.half_open_count() == 0);
  CHECK(used.next_deadline() == UINT64_MAX);
  const ServerCounters zero{};
  CHECK(std::memcmp(&used.counters(), &zero, sizeof zero) == 0);
  // The same datagrams as the new endpoint sent: same session state, same challenge and probe
  // values, the same keys' sequence numbers.
  CHECK(exchange(f, used, b) == want);
}
