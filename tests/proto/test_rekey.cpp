// Rekeying (proto/rekey.hpp, docs/protocol.md §5 "Rekeying"): the schedule, the server's grace
// table and verdict, the CLIENT_HELLO TLV, and whole sessions rekeying under traffic in the
// simulator: make-before-break (nothing lost), failures leave the current keys working.
#include <catch2/catch.hpp>

#include "proto/rekey.hpp"
#include "sim.hpp"

using namespace ptun;
using namespace ptun::proto;
using namespace ptun::proto::testing;

namespace {

ClientParams rekey_every(uint64_t ms) {
  ClientParams p;
  p.rekey.after_ms = ms;
  p.rekey.after_packets = 0;
  p.rekey.retry_ms = 1000;
  p.rekey.grace_ms = 500;
  return p;
}

size_t server_delivered(const World& w) {
  size_t n = 0;
  for (const auto& [id, v] : w.server->delivered) n += v.size();
  return n;
}

// Both directions send one packet every `step_ms` for `ms`; the server sends on the peer's newest
// session, as the server's routes do. Returns how many each side sent.
size_t exchange(World& w, ClientNode& c, uint64_t ms, uint64_t step_ms = 10) {
  size_t sent = 0;
  for (uint64_t t = 0; t < ms; t += step_ms, ++sent) {
    auto pkt = ip4_packet(200, uint8_t(sent));
    REQUIRE(up(c));
    REQUIRE(c.session->send_packet(pkt, w.now));
    REQUIRE(w.server->endpoint->send_packet(w.server->established.back(), pkt, w.now));
    w.run_for(step_ms);
  }
  return sent;
}

}  // namespace

TEST_CASE("rekey schedule: age, packet and byte limits, retry after a failure", "[proto][rekey]") {
  RekeyParams p;
  p.after_ms = 10'000;
  p.after_packets = 100;
  p.after_bytes = 0;
  p.retry_ms = 3000;
  RekeySchedule s(p);
  CHECK(s.deadline(0, 0) == UINT64_MAX);   // no keys yet
  s.keys_made(1000, 50, 5000);
  CHECK(s.deadline(50, 5000) == 11'000);
  CHECK_FALSE(s.due(10'999, 149, 0));
  CHECK(s.due(11'000, 50, 5000));
  CHECK(s.due(2000, 150, 5000));           // 100 packets under these keys
  CHECK(s.deadline(150, 5000) == 1000);    // due at once (not before the keys were made)
  s.attempt_failed(2000);
  CHECK_FALSE(s.due(4999, 150, 5000));     // a failed attempt waits retry_ms
  CHECK(s.due(5000, 150, 5000));
  s.keys_made(6000, 150, 5000);            // counts start again from the new keys
  CHECK_FALSE(s.due(6001, 249, 5000));

  RekeyParams b{0, 0, 1 << 20, 1000, 500};
  RekeySchedule bytes(b);
  bytes.keys_made(0, 0, 0);
  CHECK(bytes.deadline(0, (1 << 20) - 1) == UINT64_MAX);   // no age limit: only the bytes
  CHECK(bytes.due(0, 0, 1 << 20));

  RekeySchedule off(RekeyParams{0, 0, 0, 1000, 500});
  off.keys_made(0, 0, 0);
  CHECK(off.deadline(1ull << 40, 1ull << 50) == UINT64_MAX);
  CHECK(RekeyParams{}.after_packets < (uint64_t(1) << 24));   // below AES-GCM's per-key limit
}

TEST_CASE("rekey verdict and grace table (server side)", "[proto][rekey]") {
  CHECK(judge_rekey(0, 7, 9) == RekeyVerdict::not_rekey);
  CHECK(judge_rekey(7, 7, 9) == RekeyVerdict::adopt);
  CHECK(judge_rekey(5, 7, 9) == RekeyVerdict::stale);   // not the peer's live session
  CHECK(judge_rekey(7, 0, 9) == RekeyVerdict::stale);   // the peer has no session (closed meanwhile)
  CHECK(judge_rekey(9, 9, 9) == RekeyVerdict::stale);   // names itself

  RekeyGrace g;
  CHECK(g.resolve(7) == 7);
  g.adopt(7, 9, 5000);
  CHECK(g.resolve(7) == 9);
  CHECK(g.resolve(9) == 9);
  CHECK(g.in_grace(7));
  g.adopt(9, 11, 6000);                    // rekeyed again before 7's grace ended
  CHECK(g.resolve(7) == 11);
  CHECK(g.next_deadline() == 5000);
  CHECK(g.take_due(4999).empty());
  CHECK(g.take_due(5000) == std::vector<uint64_t>{7});
  CHECK(g.size() == 1);
  CHECK(g.forget(11) == std::vector<uint64_t>{9});   // the new one died: its old one is an orphan
  CHECK(g.size() == 0);
  CHECK(g.next_deadline() == UINT64_MAX);
  g.adopt(3, 3, 100);                      // a session cannot replace itself
  CHECK(g.size() == 0);
  g.adopt(1, 2, 100);
  g.adopt(2, 1, 100);                      // a loop (never made by a real server) stays bounded
  (void)g.resolve(1);
}

TEST_CASE("CLIENT_HELLO carries rekey_of, CLOSE rekeyed", "[proto][rekey][messages]") {
  ClientHello h;
  h.software_version = "ptun 1";
  h.rekey_of = 0x00abcdef01234567;
  uint8_t buf[128];
  auto n = encode_client_hello(h, buf);
  REQUIRE(n);
  auto d = decode_client_hello({buf, *n});
  REQUIRE(d);
  CHECK(*d == h);
  h.rekey_of = 0;   // absent when 0: the message an older client sends
  auto n0 = encode_client_hello(h, buf);
  REQUIRE(n0);
  CHECK(*n0 == *n - 11);
  CHECK(decode_client_hello({buf, *n0})->rekey_of == 0);
  const uint8_t bad[] = {0x01, 0x01, 0x03, 0x00, 0x04, 1, 2, 3, 4};   // rekey_of of 4 bytes
  CHECK_FALSE(decode_client_hello(bad));
  auto c = encode_close(CloseReason::rekeyed, "", buf);
  REQUIRE(c);
  CHECK(decode_close({buf, *c})->reason == CloseReason::rekeyed);
}

TEST_CASE("rekey under traffic: new keys every 2 s, nothing lost, state stays established", "[proto][rekey][sim]") {
  World w;
  w.server->sticky = true;
  w.net.reorder = 0.2;   // records of both epochs cross during the switch
  auto& c = w.add_client("203.0.113.5:50000", nullptr, rekey_every(2000));
  establish(w, c);
  const uint64_t first = c.session->session_id();
  const size_t sent = exchange(w, c, 9000);
  w.run_for(1000);
  const auto& st = c.session->stats();
  CHECK(st.rekeys >= 4);
  CHECK(st.rekey_failures == 0);
  CHECK(c.session->session_id() != first);
  CHECK(c.established == 1);   // the application saw one session, never a close
  CHECK(c.closed == 0);
  CHECK(c.delivered.size() == sent);   // make-before-break: nothing lost in either direction
  CHECK(server_delivered(w) == sent);
  // Every rekey named the session it replaced, and the replaced ones ended with CLOSE(rekeyed).
  REQUIRE(w.server->hellos.size() == st.rekeys + 1);
  CHECK(w.server->hellos[0].rekey_of == 0);
  for (size_t i = 1; i < w.server->hellos.size(); ++i) CHECK(w.server->hellos[i].rekey_of == w.server->established[i - 1]);
  CHECK(w.server->closed.size() == st.rekeys);
  for (auto id : w.server->closed) CHECK(w.server->close_reasons[id] == CloseReason::rekeyed);
  CHECK(w.server->endpoint->session_count() == 1);
  CHECK(c.session->old_session_id() == 0);
}

TEST_CASE("rekey by packet count", "[proto][rekey][sim]") {
  World w;
  w.server->sticky = true;
  ClientParams p = rekey_every(0);
  p.rekey.after_packets = 60;
  auto& c = w.add_client("203.0.113.5:50000", nullptr, p);
  establish(w, c);
  exchange(w, c, 200, 10);   // 40 packets both ways: under the limit
  CHECK(c.session->stats().rekeys == 0);
  exchange(w, c, 200, 10);   // 80: over it
  w.run_for(500);
  CHECK(c.session->stats().rekeys == 1);
}

TEST_CASE("rekey refused: the current keys keep working, retried later", "[proto][rekey][sim]") {
  World w;
  w.server->sticky = true;
  auto& c = w.add_client("203.0.113.5:50000", nullptr, rekey_every(2000));
  establish(w, c);
  const uint64_t id = c.session->session_id();
  w.server->refuse = std::make_pair(CloseReason::server_full, std::string("no room"));
  const size_t sent = exchange(w, c, 2500);
  CHECK(c.session->stats().rekey_failures == 1);
  CHECK(c.session->stats().rekeys == 0);
  CHECK(c.session->session_id() == id);
  CHECK(c.closed == 0);
  CHECK(c.delivered.size() == sent);
  w.server->refuse.reset();
  w.run_for(1500);   // retry_ms = 1 s
  CHECK(c.session->stats().rekeys == 1);
  CHECK(c.session->session_id() != id);
  CHECK(up(c));
}

TEST_CASE("rekey handshake times out: the current keys keep working", "[proto][rekey][sim]") {
  World w;
  w.server->sticky = true;
  ClientParams p = rekey_every(2000);
  p.handshake_timeout_ms = 1500;
  auto& c = w.add_client("203.0.113.5:50000", nullptr, p);
  establish(w, c);
  const uint64_t id = c.session->session_id();
  w.run_for(1990);
  w.net.drop_all = true;   // the attempt gets no answer (dead peer is 30 s: the session survives)
  w.run_for(2000);
  CHECK(c.session->stats().rekey_failures == 1);
  CHECK(c.session->rekeying() == false);
  w.net.drop_all = false;
  CHECK(c.session->session_id() == id);
  REQUIRE(c.session->send_packet(ip4_packet(100, 1), w.now));
  w.run_for(50);
  CHECK(w.server->delivered[id].size() == 1);
  w.run_for(1500);
  CHECK(c.session->stats().rekeys == 1);
  CHECK(c.closed == 0);
}

TEST_CASE("rekey with different settings falls back to a reconnect", "[proto][rekey][sim]") {
  World w;   // not sticky: every session gets a new address
  auto& c = w.add_client("203.0.113.5:50000", nullptr, rekey_every(2000));
  establish(w, c);
  w.run_for(3000);
  CHECK(c.closed == 1);
  CHECK(c.reason == CloseReason::none);
  CHECK(c.detail.find("different settings") != std::string::npos);
  CHECK(c.session->stats().rekeys == 0);
}

TEST_CASE("records of a stale or foreign session id do not disturb a rekeying client", "[proto][rekey][sim]") {
  World w;
  w.server->sticky = true;
  w.net.keep_log = true;
  auto& c = w.add_client("203.0.113.5:50000", nullptr, rekey_every(2000));
  establish(w, c);
  const uint64_t old = c.session->session_id();
  w.run_for(2000 + 100);
  REQUIRE(c.session->stats().rekeys == 1);
  w.run_for(1000);   // the grace is over: the old id is gone
  // The server's old datagrams replayed after the grace: dropped and counted, nothing delivered.
  const auto before = c.session->stats().drop_bad_header;
  size_t replayed = 0;
  for (const auto& d : w.net.log) {
    OuterHeader h;
    if (d.from == w.server->addr && decode_outer_header(d.data, &h) == HeaderStatus::ok && h.session_id == old) {
      c.session->on_datagram(d.data, w.now);
      ++replayed;
    }
  }
  REQUIRE(replayed > 0);
  CHECK(c.session->stats().drop_bad_header == before + replayed);
  CHECK(c.delivered.empty());
  CHECK(up(c));
}
