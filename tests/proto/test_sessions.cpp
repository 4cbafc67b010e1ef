// Whole-protocol tests: ClientSession <-> ServerEndpoint over the simulated network (sim.hpp).
#include <catch2/catch.hpp>

#include <functional>
#include <set>

#include "sim.hpp"

using namespace ptun;
using namespace ptun::proto;
using namespace ptun::proto::testing;

TEST_CASE("handshake, SETTINGS and IP packets both ways", "[proto][session]") {
  World w;
  auto& c = w.add_client("203.0.113.5:50000");
  c.session->start(w.now);
  CHECK(c.session->state() == ClientSession::State::handshaking);
  REQUIRE(w.run([&] { return up(c); }, 10'000));

  CHECK(c.established == 1);
  REQUIRE(c.settings.ipv4);
  CHECK(c.settings.ipv4->str() == "10.99.0.2/24");
  CHECK(c.settings.mtu == 1380);
  CHECK(c.settings.dns_servers.size() == 1);
  CHECK(w.server->authorized_cns == std::vector<std::string>{"alice"});
  REQUIRE(w.server->established.size() == 1);
  uint64_t id = w.server->established[0];
  CHECK(id == c.session->session_id());
  auto info = w.server->endpoint->session(id);
  REQUIRE(info);
  CHECK(info->peer_cn == "alice");
  CHECK(info->state == ServerSessionState::established);
  CHECK(info->ciphersuite.find("ECDHE-ECDSA") != std::string::npos);
  CHECK(c.session->ciphersuite() == info->ciphersuite);
  CHECK(w.server->endpoint->half_open_count() == 0);
  // For the metrics: the peer certificate's notAfter, and when the handshake began.
  CHECK(info->peer_not_after > 1700000000);
  CHECK(info->created_ms <= info->stats.established_at_ms);
  CHECK(info->stats.established_at_ms - info->created_ms < 10'000);

  // Client -> server.
  for (int i = 0; i < 10; ++i) REQUIRE(c.session->send_packet(ip4_packet(100 + i, uint8_t(i)), w.now));
  w.run_for(50);
  REQUIRE(w.server->delivered[id].size() == 10);
  CHECK(w.server->delivered[id][3] == ip4_packet(103, 3));
  // Server -> client, including a maximum-size packet.
  size_t max = w.server->endpoint->max_packet(id);
  CHECK(max >= 1380);
  REQUIRE(w.server->endpoint->send_packet(id, ip4_packet(max, 0x77), w.now));
  std::vector<uint8_t> v6(60, 0);
  v6[0] = 0x60;
  REQUIRE(w.server->endpoint->send_packet(id, v6, w.now));
  CHECK_FALSE(w.server->endpoint->send_packet(id, ip4_packet(max + 1, 1), w.now));
  w.run_for(50);
  REQUIRE(c.delivered.size() == 2);
  CHECK(c.delivered[0] == ip4_packet(max, 0x77));
  CHECK(c.delivered[1] == v6);
  CHECK(c.session->stats().packets_out == 10);
  CHECK(c.session->stats().packets_in == 2);
  CHECK(w.server->endpoint->session(id)->stats.drop_too_big == 1);
  CHECK_FALSE(c.session->send_packet(ip4_packet(c.session->max_packet() + 1, 1), w.now));
  CHECK(c.session->stats().drop_too_big == 1);

  // Orderly close by the user reaches the server as CLOSE(user).
  c.session->close(CloseReason::user, w.now);
  CHECK(c.closed == 1);
  CHECK(c.reason == CloseReason::user);
  w.run_for(50);
  REQUIRE(w.server->closed.size() == 1);
  CHECK(w.server->close_reasons[id] == CloseReason::user);
  CHECK(w.server->endpoint->session_count() == 0);
  // The session's last counters reach on_closed (the server adds them to the peer's totals).
  CHECK(w.server->final_stats[id].packets_in == 10);
  CHECK(w.server->final_stats[id].packets_out == 2);
  CHECK(w.server->final_stats[id].bytes_in > 0);
}

TEST_CASE("a packet before SETTINGS is refused, not sent", "[proto][session]") {
  World w;
  auto& c = w.add_client("203.0.113.5:50000");
  CHECK_FALSE(c.session->send_packet(ip4_packet(60, 1), w.now));
  CHECK(c.session->stats().drop_not_established == 1);
  c.session->start(w.now);  // a new session starts with fresh stats
  CHECK_FALSE(c.session->send_packet(ip4_packet(60, 1), w.now));
  CHECK(c.session->stats().drop_not_established == 1);
  CHECK(w.net.sent == 1);  // only the ClientHello
}

TEST_CASE("handshake and SETTINGS complete under 20% loss", "[proto][session][loss]") {
  for (uint64_t seed : {1, 2, 3, 4, 5}) {
    World w;
    w.net.rng = SeededRng(seed);
    w.net.loss = 0.2;
    auto& c = w.add_client("203.0.113.5:50000");
    c.session->start(w.now);
    INFO("seed " << seed);
    REQUIRE(w.run([&] { return up(c) || c.closed; }, 30'000));
    CHECK(up(c));
    CHECK(w.server->established.size() == 1);
  }
}

TEST_CASE("large SETTINGS in several parts survive loss", "[proto][session][loss]") {
  World w;
  w.net.rng = SeededRng(9);
  w.net.loss = 0.2;
  auto& c = w.add_client("203.0.113.5:50000");
  // 600 routes do not fit one record: authorize() of this server returns them.
  struct Wrap : ServerEndpoint::Callbacks {
    ServerNode& inner;
    explicit Wrap(ServerNode& n) : inner(n) {}
    void send_datagram(const Endpoint& to, std::span<const uint8_t> d) override { inner.send_datagram(to, d); }
    void deliver_packet(uint64_t id, std::span<const uint8_t> ip) override { inner.deliver_packet(id, ip); }
    Result<NetworkSettings> authorize(uint64_t id, const std::string& cn, const ClientHello& h, CloseReason* r) override {
      auto s = inner.authorize(id, cn, h, r);
      for (uint32_t i = 0; i < 600; ++i) s->included_routes.push_back(Cidr{IpAddr::v4(0x0b000000u | (i << 8)), 24});
      return s;
    }
    void on_established(uint64_t id, const std::string& cn, const Endpoint& e) override { inner.on_established(id, cn, e); }
    void on_roamed(uint64_t id, const Endpoint& e) override { inner.on_roamed(id, e); }
    void on_closed(uint64_t id, CloseReason r, const SessionStats& st) override { inner.on_closed(id, r, st); }
  } wrap(*w.server);
  w.server->endpoint = std::make_unique<ServerEndpoint>(w.server->config, wrap, ServerEndpoint::Limits{});
  c.session->start(w.now);
  REQUIRE(w.run([&] { return up(c) || c.closed; }, 60'000));
  REQUIRE(up(c));
  CHECK(c.settings.included_routes.size() == 601);
  CHECK(c.settings.included_routes.back().str() == "11.2.87.0/24");
}

TEST_CASE("duplicated and reordered data records: duplicates dropped, nothing breaks", "[proto][session]") {
  World w;
  auto& c = w.add_client("203.0.113.5:50000");
  establish(w, c);
  uint64_t id = c.session->session_id();
  w.net.dup = 0.5;
  w.net.reorder = 0.5;
  w.net.reorder_extra_ms = 40;
  for (int i = 0; i < 200; ++i) {
    auto p = ip4_packet(64, 0);
    p[8] = uint8_t(i);
    p[9] = uint8_t(i >> 8);
    REQUIRE(c.session->send_packet(p, w.now));
    REQUIRE(w.server->endpoint->send_packet(id, p, w.now));
    w.run_for(1);
  }
  w.run_for(200);
  auto unique_count = [](const std::vector<std::vector<uint8_t>>& v) {
    std::set<int> seen;
    for (auto& p : v) seen.insert(p[8] | (p[9] << 8));
    return std::pair<size_t, size_t>(seen.size(), v.size());
  };
  auto [su, sn] = unique_count(w.server->delivered[id]);
  auto [cu, cn] = unique_count(c.delivered);
  CHECK(su == sn);  // no duplicate reached the application
  CHECK(cu == cn);
  CHECK(su >= 190);  // reordering within the anti-replay window is accepted
  CHECK(cu >= 190);
  CHECK(w.server->endpoint->counters().replay_or_auth > 0);
  CHECK(c.session->stats().drop_no_record > 0);
  CHECK(up(c));
}

TEST_CASE("keepalive PING/PONG measures the RTT", "[proto][session][keepalive]") {
  World w;
  w.net.delay_ms = 20;
  auto& c = w.add_client("203.0.113.5:50000");
  establish(w, c);
  w.run_for(25'000);  // idle: keepalive every 10 s
  CHECK(up(c));
  CHECK(c.session->stats().pings_sent >= 2);
  CHECK(c.session->stats().pongs_received >= 2);
  CHECK(c.session->stats().rtt_us_last == 40'000);
  CHECK(c.session->stats().rtt_us_smoothed == 40'000);
  // The server samples it too, with its own PINGs (1 s after the start, then every 30 s): its
  // per-peer RTT metric is no longer always 0. The client answers them like any PING.
  auto info = w.server->endpoint->session(c.session->session_id());
  REQUIRE(info);
  CHECK(info->stats.rtt_us_last == 40'000);
  CHECK(info->stats.rtt_us_smoothed == 40'000);
  CHECK(info->stats.pongs_received == 1);
  CHECK(info->stats.drop_unexpected == 0);
  CHECK(c.session->stats().drop_unexpected == 0);
  // Keepalive keeps both sides alive far past dead_peer_secs.
  w.run_for(120'000);
  CHECK(up(c));
  CHECK(w.server->endpoint->session_count() == 1);
  CHECK(w.server->endpoint->session(c.session->session_id())->stats.pongs_received >= 5);
}

TEST_CASE("dead peer detected on both sides when the network drops everything", "[proto][session][keepalive]") {
  World w;
  auto& c = w.add_client("203.0.113.5:50000");
  establish(w, c);
  uint64_t id = c.session->session_id();
  w.net.drop_all = true;
  w.run([&] { return c.closed && !w.server->closed.empty(); }, 40'000);
  CHECK(c.reason == CloseReason::dead_peer);
  REQUIRE(w.server->closed == std::vector<uint64_t>{id});
  CHECK(w.server->close_reasons[id] == CloseReason::dead_peer);
  CHECK(w.server->endpoint->session_count() == 0);
  CHECK(w.server->endpoint->next_deadline() == UINT64_MAX);
}

TEST_CASE("server refusal reaches the client as CLOSE with the reason and text", "[proto][session]") {
  World w;
  w.server->refuse = std::make_pair(CloseReason::auth_refused, std::string("no peer named 'alice'"));
  auto& c = w.add_client("203.0.113.5:50000");
  c.session->start(w.now);
  REQUIRE(w.run([&] { return c.closed > 0; }, 10'000));
  CHECK(c.reason == CloseReason::auth_refused);
  CHECK(c.detail == "no peer named 'alice'");
  CHECK(c.established == 0);
  CHECK(w.server->endpoint->session_count() == 0);
  CHECK(w.server->endpoint->half_open_count() == 0);
  CHECK(w.server->endpoint->counters().refused == 1);
  CHECK(w.server->closed.empty());  // never established: no on_closed
}

TEST_CASE("a certificate name that is not UTF-8 text is refused before authorize", "[proto][session]") {
  // Issue 19 item 5: such a CN threw out of the lease file's JSON and ended the receive task.
  for (const char* cn : {"bad\xff\xfe", "ctl\x01name"}) {
    World w;
    static auto& pki = TestPki::get();
    auto leaf = pki.ca.issue(cn);
    auto& c = w.add_client("203.0.113.5:50000", pki.creds(leaf));
    c.session->start(w.now);
    REQUIRE(w.run([&] { return c.closed > 0; }, 10'000));
    CHECK(c.reason == CloseReason::auth_refused);
    CHECK(w.server->authorized_cns.empty());
    CHECK(w.server->endpoint->counters().refused == 1);
    auto& good = w.add_client("203.0.113.6:50000");
    establish(w, good);
  }
}

TEST_CASE("server kicks a client with a text", "[proto][session]") {
  World w;
  auto& c = w.add_client("203.0.113.5:50000");
  establish(w, c);
  REQUIRE(w.server->endpoint->close_session(c.session->session_id(), CloseReason::kicked, w.now, "by admin"));
  w.run_for(50);
  CHECK(c.reason == CloseReason::kicked);
  CHECK(c.detail == "by admin");
  CHECK(c.closed == 1);
}

TEST_CASE("a client certificate from another CA fails the handshake with a reason", "[proto][session][tls]") {
  World w;
  auto& pki = TestPki::get();
  auto& c = w.add_client("203.0.113.5:50000", pki.ca.creds(pki.rogue_client));
  c.session->start(w.now);
  REQUIRE(w.run([&] { return c.closed > 0; }, 30'000));
  CHECK(c.reason == CloseReason::handshake_failed);
  // The server's alert names the cause ("peer sent alert: unknown_ca").
  CHECK(c.detail.find("alert") != std::string::npos);
  CAPTURE(c.detail);
  CHECK(w.server->endpoint->counters().handshake_failed == 1);
  CHECK(w.server->endpoint->session_count() == 0);
  CHECK(w.server->authorized_cns.empty());
}

TEST_CASE("a server certificate with the wrong name fails on the client", "[proto][session][tls]") {
  World w;
  auto& pki = TestPki::get();
  w.clients.push_back(std::make_unique<ClientNode>(w, *Endpoint::parse("203.0.113.5:50000"),
                                                   pki.creds(pki.client), 77, ClientParams{}, "other.example.org"));
  auto& c = *w.clients.back();
  c.session->start(w.now);
  REQUIRE(w.run([&] { return c.closed > 0; }, 30'000));
  CHECK(c.reason == CloseReason::handshake_failed);
  CHECK(c.detail.find("name") != std::string::npos);
}

TEST_CASE("no server at all: handshake timeout", "[proto][session]") {
  World w;
  w.net.drop_all = true;
  ClientParams p;
  p.handshake_timeout_ms = 5000;
  auto& c = w.add_client("203.0.113.5:50000", nullptr, p);
  c.session->start(w.now);
  uint64_t t0 = w.now;
  REQUIRE(w.run([&] { return c.closed > 0; }, 60'000));
  CHECK(c.reason == CloseReason::handshake_timeout);
  CHECK(w.now - t0 == 5000);
  CHECK(c.session->next_deadline() == UINT64_MAX);
}

TEST_CASE("max_sessions refuses sessions past the limit", "[proto][session][limits]") {
  ServerEndpoint::Limits l;
  l.max_sessions = 2;
  World w(l);
  ClientParams p;
  p.handshake_timeout_ms = 5000;
  auto& a = w.add_client("203.0.113.5:50000", nullptr, p);
  auto& b = w.add_client("203.0.113.6:50000", nullptr, p);
  auto& c = w.add_client("203.0.113.7:50000", nullptr, p);
  establish(w, a);
  establish(w, b);
  c.session->start(w.now);
  REQUIRE(w.run([&] { return c.closed > 0; }, 10'000));
  CHECK(c.reason == CloseReason::handshake_timeout);
  CHECK(w.server->endpoint->counters().session_limit > 0);
  CHECK(w.server->endpoint->session_count() == 2);
  // Once a session ends, the next client gets in.
  a.session->close(CloseReason::user, w.now);
  w.run_for(100);
  c.session->start(w.now);
  REQUIRE(w.run([&] { return up(c); }, 10'000));
}

TEST_CASE("half-open limit and half-open expiry", "[proto][session][limits]") {
  ServerEndpoint::Limits l;
  l.max_half_open = 1;
  l.handshake_timeout_ms = 2000;
  World w(l);
  auto& a = w.add_client("203.0.113.5:50000");
  auto& b = w.add_client("203.0.113.6:50000");
  a.session->start(w.now);
  b.session->start(w.now);
  REQUIRE(w.run([&] { return up(a) && up(b); }, 30'000));  // b retries its flight later
  CHECK(w.server->endpoint->counters().half_open_limit > 0);

  // A client that proves its address and then vanishes: its half-open session expires.
  auto& c = w.add_client("203.0.113.7:50000");
  c.session->start(w.now);
  REQUIRE(w.run([&] { return w.server->endpoint->half_open_count() == 1; }, 5'000));
  w.net.drop_all = true;
  w.run_for(2'500);
  CHECK(w.server->endpoint->half_open_count() == 0);
  CHECK(w.server->endpoint->session_count() == 2);
  CHECK(w.server->endpoint->counters().handshake_timeout == 1);
}

namespace {

// A ClientHello with a valid cookie for `addr`, as an attacker there would capture it: the
// client's second ClientHello (after the HelloVerifyRequest), taken off the wire unanswered.
std::vector<uint8_t> cookie_hello(World& w, const std::string& addr) {
  w.net.keep_log = true;
  auto& a = w.add_client(addr);
  auto hellos = [&] {
    std::vector<const SimNet::Packet*> out;
    for (auto& p : w.net.log)
      if (p.from == a.addr && looks_like_client_hello(std::span<const uint8_t>(p.data).subspan(8))) out.push_back(&p);
    return out;
  };
  a.session->start(w.now);
  REQUIRE(w.run([&] { return hellos().size() >= 2; }, 5'000));
  std::vector<uint8_t> hello = hellos()[1]->data;
  w.net.flight.clear();  // the attacker never completes the handshake
  w.net.log.clear();
  w.net.keep_log = false;
  w.clients.pop_back();
  return hello;
}

}  // namespace

TEST_CASE("a half-open flood from two sources does not lock a new client out", "[proto][session][limits]") {
  // Issue 19 item 3: each source replays its cookie ClientHello under fresh session ids at the
  // per-source rate (20/s); the server's flights go nowhere and the sessions stay half-open.
  ServerEndpoint::Limits l;
  l.max_half_open = 8;
  l.max_half_open_per_source = 4;
  l.handshake_timeout_ms = 10'000;
  World w(l);
  std::pair<Endpoint, std::vector<uint8_t>> attackers[] = {
      {*Endpoint::parse("192.0.2.10:40000"), cookie_hello(w, "192.0.2.10:40000")},
      {*Endpoint::parse("192.0.2.20:40000"), cookie_hello(w, "192.0.2.20:40000")}};
  auto& ep = *w.server->endpoint;
  uint64_t next_id = 0x7a0000;
  auto flood_for = [&](uint64_t ms, const std::function<bool()>& done) {
    for (uint64_t t = 0; t < ms && !done(); t += 50) {
      for (auto& [from, hello] : attackers) {
        encode_outer_header(hello.data(), ++next_id);
        ep.on_datagram(from, hello, w.now);
      }
      w.run_for(50);
    }
  };
  flood_for(2'000, [] { return false; });
  CHECK(ep.half_open_count() == 8);                   // 4 per source: the cap
  CHECK(ep.counters().half_open_source_limit > 0);
  auto& c = w.add_client("203.0.113.5:50000");
  c.session->start(w.now);
  flood_for(5'000, [&] { return up(c); });            // without eviction: no slot for 10 s
  CHECK(up(c));
  CHECK(ep.counters().half_open_evicted >= 1);
  CHECK(ep.half_open_count() <= 8);
}

TEST_CASE("per-source handshake rate limit", "[proto][session][limits]") {
  ServerEndpoint::Limits l;
  l.per_source_hs_per_sec = 1;
  World w(l);
  auto& a = w.add_client("203.0.113.5:50000");
  auto& b = w.add_client("203.0.113.5:50001");  // same host, another port
  auto& c = w.add_client("203.0.113.9:50000");  // another host
  a.session->start(w.now);
  b.session->start(w.now);
  c.session->start(w.now);
  REQUIRE(w.run([&] { return up(a) && up(b) && up(c); }, 30'000));  // b gets in a second later
  CHECK(w.server->endpoint->counters().rate_limited > 0);
}

TEST_CASE("a replayed ClientHello from another address is a collision, not a new session", "[proto][session]") {
  World w;
  w.net.keep_log = true;
  auto& c = w.add_client("203.0.113.5:50000");
  establish(w, c);
  // The second datagram the client sent is its ClientHello with the cookie.
  std::vector<uint8_t> hello;
  int seen = 0;
  for (auto& p : w.net.log)
    if (p.from == c.addr && looks_like_client_hello(std::span<const uint8_t>(p.data).subspan(8)) && ++seen == 2)
      hello = p.data;
  REQUIRE_FALSE(hello.empty());
  w.server->endpoint->on_datagram(*Endpoint::parse("192.0.2.66:6666"), hello, w.now);
  w.server->endpoint->on_datagram(c.addr, hello, w.now);
  CHECK(w.server->endpoint->counters().session_collision == 2);
  // The same ClientHello behind another record (issue 19 item 5): still a collision.
  std::vector<uint8_t> hidden(hello.begin(), hello.begin() + 8);
  const uint8_t app[] = {23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 3, 1, 2, 3};
  hidden.insert(hidden.end(), std::begin(app), std::end(app));
  hidden.insert(hidden.end(), hello.begin() + 8, hello.end());
  w.server->endpoint->on_datagram(*Endpoint::parse("192.0.2.66:6666"), hidden, w.now);
  w.server->endpoint->on_datagram(c.addr, hidden, w.now);
  CHECK(w.server->endpoint->counters().session_collision == 4);
  CHECK(w.server->endpoint->counters().sessions_created == 1);
  CHECK(w.server->endpoint->session(c.session->session_id())->endpoint == c.addr);
  CHECK(up(c));
}

TEST_CASE("garbage datagrams are dropped and counted by cause", "[proto][session][garbage]") {
  World w;
  auto& ep = *w.server->endpoint;
  auto from = *Endpoint::parse("192.0.2.9:9999");
  uint64_t now = w.now;
  auto feed = [&](std::vector<uint8_t> d) { ep.on_datagram(from, d, now); };
  feed({});
  feed({0x10, 0, 0, 0, 0, 0, 0, 1});                    // header only
  feed({0x10, 0, 0, 0, 0, 0, 0, 0, 22});                // session id 0
  feed({0x20, 0, 0, 0, 0, 0, 0, 1, 22});                // version 2
  feed({0x13, 0, 0, 0, 0, 0, 0, 1, 22});                // kind 3
  feed({0x10, 0, 0, 0, 0, 0, 0, 1, 23, 0xfe, 0xfd});    // unknown session, application data
  std::vector<uint8_t> fake_hello(8 + 13 + 12 + 10, 0);  // looks like a ClientHello, is not one
  fake_hello[0] = 0x10;
  fake_hello[7] = 1;
  fake_hello[8] = 22;
  fake_hello[9] = 0xfe;
  fake_hello[10] = 0xfd;
  fake_hello[8 + 13] = 1;
  feed(fake_hello);
  const auto& k = ep.counters();
  CHECK(k.datagrams_in == 7);
  CHECK(k.bad_header == 3);
  CHECK(k.unknown_version == 1);
  CHECK(k.unknown_kind == 1);
  CHECK(k.unknown_session == 1);
  CHECK(k.malformed_hello + k.not_client_hello == 1);
  CHECK(ep.session_count() == 0);
  CHECK(ep.next_deadline() == UINT64_MAX);
  // Only the unknown session got an answer: the 8-byte hint, smaller than what caused it.
  CHECK(k.unknown_session_hints == 1);
  CHECK(w.net.sent == 1);

  // The client drops datagrams that carry another session id.
  auto& c = w.add_client("203.0.113.5:50000");
  establish(w, c);
  std::vector<uint8_t> other(40, 0);
  encode_outer_header(other.data(), c.session->session_id() ^ 1);
  c.session->on_datagram(other, w.now);
  encode_outer_header(other.data(), c.session->session_id());
  c.session->on_datagram(other, w.now);  // right id, garbage DTLS
  CHECK(c.session->stats().drop_bad_header == 1);
  CHECK(c.session->stats().drop_no_record == 1);
  CHECK(up(c));
}

TEST_CASE("HelloVerify reply is never larger than the request", "[proto][session]") {
  World w;
  w.net.keep_log = true;
  auto& c = w.add_client("203.0.113.5:50000");
  c.session->start(w.now);
  w.run_for(20);
  REQUIRE(w.net.log.size() >= 2);
  CHECK(w.net.log[0].from == c.addr);
  CHECK(w.net.log[1].from == w.server->addr);
  CHECK(w.net.log[1].data.size() <= w.net.log[0].data.size());
  CHECK(w.server->endpoint->counters().cookie_sent == 1);
  CHECK(w.server->endpoint->session_count() <= 1);
}

TEST_CASE("close_all ends every session", "[proto][session]") {
  World w;
  auto& a = w.add_client("203.0.113.5:50000");
  auto& b = w.add_client("203.0.113.6:50000");
  establish(w, a);
  establish(w, b);
  w.server->endpoint->close_all(CloseReason::shutdown, w.now);
  w.run_for(50);
  CHECK(a.reason == CloseReason::shutdown);
  CHECK(b.reason == CloseReason::shutdown);
  CHECK(w.server->closed.size() == 2);
  CHECK(w.server->endpoint->session_count() == 0);
}

TEST_CASE("reconnecting from inside on_closed starts a fresh session", "[proto][session]") {
  World w;
  auto& c = w.add_client("203.0.113.5:50000");
  establish(w, c);
  uint64_t first = c.session->session_id();
  c.reconnect_on_close = true;
  // The server kicks the client; its CLOSE arrives inside on_datagram, whose callback restarts.
  REQUIRE(w.server->endpoint->close_session(first, CloseReason::kicked, w.now));
  REQUIRE(w.run([&] { return c.established == 2; }, 10'000));
  CHECK(c.reason == CloseReason::kicked);
  CHECK(c.session->session_id() != first);
  CHECK(up(c));
  CHECK(w.server->endpoint->session_count() == 1);
  REQUIRE(c.session->send_packet(ip4_packet(60, 1), w.now));
  w.run_for(20);
  CHECK(w.server->delivered[c.session->session_id()].size() == 1);
}

TEST_CASE("an unknown-session hint ends an established client session at once", "[proto][session][restart]") {
  World w;
  auto& c = w.add_client("203.0.113.5:50000");
  establish(w, c);
  uint8_t hint[kOuterHeaderSize];
  // Another session's id: ignored.
  encode_outer_header(hint, c.session->session_id() ^ 1, Kind::unknown_session);
  c.session->on_datagram(hint, w.now);
  CHECK_FALSE(c.closed);
  encode_outer_header(hint, c.session->session_id(), Kind::unknown_session);
  c.session->on_datagram(hint, w.now);
  CHECK(c.closed);
  CHECK(c.reason == CloseReason::dead_peer);
}

TEST_CASE("a server that lost the session answers the client's next datagram with a hint", "[proto][session][restart]") {
  World w;
  auto& c = w.add_client("203.0.113.5:50000");
  establish(w, c);
  // The server forgets every session without telling anyone (as a crash and restart would).
  w.net.drop_all = true;
  w.server->endpoint->close_all(CloseReason::shutdown, w.now);
  w.run_for(10);
  w.net.drop_all = false;
  std::vector<uint8_t> ip(60, 0);
  ip[0] = 0x45;
  ip[3] = 60;
  c.session->send_packet(ip, w.now);
  w.run([&] { return c.closed; }, 1000);
  CHECK(c.reason == CloseReason::dead_peer);
  CHECK(w.server->endpoint->counters().unknown_session_hints >= 1);
}

TEST_CASE("a deferred authorize: the session waits, then SETTINGS or a refusal", "[proto][session]") {
  // The cluster's shared leases answer after an etcd round trip: authorize() says would_block and
  // the app calls complete_authorize() later (server_endpoint.hpp).
  World w;
  w.server->defer = true;
  auto& c = w.add_client("203.0.113.5:50000");
  c.session->start(w.now);
  REQUIRE(w.run([&] { return !w.server->deferred.empty(); }, 10'000));
  const uint64_t id = w.server->deferred[0];
  // Meanwhile the client resends CLIENT_HELLO: ignored, not a second authorize().
  w.run([&] { return false; }, 3'000);
  CHECK(w.server->deferred.size() == 1);
  CHECK_FALSE(up(c));
  CHECK(w.server->endpoint->half_open_count() == 1);
  CloseReason why = CloseReason::auth_refused;
  CHECK(w.server->endpoint->complete_authorize(id, w.server->settings_for(&why), why, w.now));
  REQUIRE(w.run([&] { return up(c); }, 10'000));
  CHECK(c.settings.ipv4->str() == "10.99.0.2/24");
  CHECK(w.server->established == std::vector<uint64_t>{id});
  CHECK(w.server->endpoint->half_open_count() == 0);
  // Not waiting any more (or gone): nothing happens.
  CHECK_FALSE(w.server->endpoint->complete_authorize(id, w.server->settings_for(&why), why, w.now));
  CHECK_FALSE(w.server->endpoint->complete_authorize(12345, w.server->settings_for(&why), why, w.now));

  // A deferred refusal closes the session with its reason.
  World r;
  r.server->defer = true;
  auto& d = r.add_client("203.0.113.6:50000");
  d.session->start(r.now);
  REQUIRE(r.run([&] { return !r.server->deferred.empty(); }, 10'000));
  CHECK(r.server->endpoint->complete_authorize(r.server->deferred[0], Error(Errc::limit, "pool exhausted"),
                                               CloseReason::no_address, r.now));
  REQUIRE(r.run([&] { return d.closed; }, 10'000));
  CHECK(r.server->endpoint->counters().refused == 1);

  // No answer within the handshake timeout: the session expires; a late answer finds nothing.
  World t;
  t.server->defer = true;
  auto& e = t.add_client("203.0.113.7:50000");
  e.session->start(t.now);
  REQUIRE(t.run([&] { return !t.server->deferred.empty(); }, 10'000));
  t.run([&] { return t.server->endpoint->half_open_count() == 0; }, 20'000);
  CHECK(t.server->endpoint->half_open_count() == 0);
  CHECK_FALSE(t.server->endpoint->complete_authorize(t.server->deferred[0], t.server->settings_for(&why), why, t.now));
}
