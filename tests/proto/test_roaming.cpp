// Roaming and return routability (docs/protocol.md §6): a session moves to a new client address
// only after an authentic PONG to the server's challenge comes back from that address; until then
// packets go to the old address and the new one gets at most 3x the bytes it sent.
#include <catch2/catch.hpp>

#include "sim.hpp"

using namespace ptun;
using namespace ptun::proto;
using namespace ptun::proto::testing;

namespace {

// Bytes the server sent to `to` since log position `from` (w.net.keep_log must be on).
uint64_t bytes_sent_to(const World& w, const Endpoint& to, size_t from = 0) {
  uint64_t n = 0;
  for (size_t i = from; i < w.net.log.size(); ++i)
    if (w.net.log[i].from == w.server->addr && w.net.log[i].to == to) n += w.net.log[i].data.size();
  return n;
}

// The client's datagrams since `from`, captured, taken out of the network.
std::vector<std::vector<uint8_t>> take_client_datagrams(World& w, const ClientNode& c, size_t from) {
  std::vector<std::vector<uint8_t>> out;
  for (size_t i = from; i < w.net.log.size(); ++i)
    if (w.net.log[i].from == c.addr) out.push_back(w.net.log[i].data);
  std::erase_if(w.net.flight, [&](const SimNet::Packet& p) { return p.from == c.addr; });
  return out;
}

}  // namespace

TEST_CASE("roaming: the client's address changes, the session continues", "[proto][session][roaming]") {
  World w;
  auto& c = w.add_client("203.0.113.5:50000");
  establish(w, c);
  uint64_t id = c.session->session_id();
  CHECK(w.server->endpoint->counters().sessions_created == 1);

  c.addr = *Endpoint::parse("192.0.2.77:61000");  // NAT rebinding / new network
  REQUIRE(c.session->send_packet(ip4_packet(80, 5), w.now));
  w.run_for(50);
  CHECK(w.server->delivered[id].size() == 1);
  REQUIRE(w.server->roamed == std::vector<uint64_t>{id});
  CHECK(w.server->endpoint->session(id)->endpoint == c.addr);
  CHECK(w.server->endpoint->session(id)->stats.roams == 1);
  CHECK(w.server->endpoint->counters().roam_challenges == 1);
  // Replies go to the new address; no new handshake happened.
  REQUIRE(w.server->endpoint->send_packet(id, ip4_packet(90, 6), w.now));
  w.run_for(50);
  CHECK(c.delivered.size() == 1);
  CHECK(w.server->endpoint->counters().sessions_created == 1);
  CHECK(c.established == 1);
  CHECK(up(c));
}

TEST_CASE("roaming: packets keep going to the old address until the new one answers the challenge",
          "[proto][session][roaming]") {
  World w;
  auto& c = w.add_client("203.0.113.5:50000");
  establish(w, c);
  uint64_t id = c.session->session_id();
  const Endpoint old_addr = c.addr;
  w.net.keep_log = true;
  c.addr = *Endpoint::parse("192.0.2.77:61000");
  REQUIRE(c.session->send_packet(ip4_packet(80, 5), w.now));
  auto dgrams = take_client_datagrams(w, c, 0);
  REQUIRE(dgrams.size() == 1);

  size_t mark = w.net.log.size();
  w.server->endpoint->on_datagram(c.addr, dgrams[0], w.now);  // authentic, from the new address
  CHECK(w.server->delivered[id].size() == 1);                  // its packet is accepted
  CHECK(w.server->roamed.empty());
  CHECK(w.server->endpoint->session(id)->endpoint == old_addr);
  CHECK(w.server->endpoint->counters().roam_challenges == 1);
  // Only the challenge went to the new address, and it is smaller than what came from there.
  CHECK(bytes_sent_to(w, c.addr, mark) > 0);
  CHECK(bytes_sent_to(w, c.addr, mark) <= dgrams[0].size());
  // Data still goes to the old address.
  mark = w.net.log.size();
  REQUIRE(w.server->endpoint->send_packet(id, ip4_packet(90, 6), w.now));
  CHECK(bytes_sent_to(w, old_addr, mark) > 0);
  CHECK(bytes_sent_to(w, c.addr, mark) == 0);

  // The client answers the challenge (and drops the packet that went to its old address).
  std::erase_if(w.net.flight, [&](const SimNet::Packet& p) { return p.to == old_addr; });
  w.run_for(50);
  REQUIRE(w.server->roamed == std::vector<uint64_t>{id});
  CHECK(w.server->endpoint->session(id)->endpoint == c.addr);
  mark = w.net.log.size();
  REQUIRE(w.server->endpoint->send_packet(id, ip4_packet(90, 7), w.now));
  w.run_for(50);
  CHECK(bytes_sent_to(w, c.addr, mark) > 0);
  CHECK(bytes_sent_to(w, old_addr, mark) == 0);
  REQUIRE(c.delivered.size() == 1);
  CHECK(c.delivered[0] == ip4_packet(90, 7));
}

TEST_CASE("a replayed datagram from another address does not move the session", "[proto][session][roaming]") {
  World w;
  auto& c = w.add_client("203.0.113.5:50000");
  establish(w, c);
  uint64_t id = c.session->session_id();
  w.net.keep_log = true;
  REQUIRE(c.session->send_packet(ip4_packet(80, 5), w.now));
  w.run_for(50);
  REQUIRE(w.net.log.size() == 1);
  auto captured = w.net.log[0].data;
  auto attacker = *Endpoint::parse("192.0.2.66:6666");

  w.server->endpoint->on_datagram(attacker, captured, w.now);  // exact replay
  auto forged = captured;
  forged.back() ^= 1;  // tampered tag
  w.server->endpoint->on_datagram(attacker, forged, w.now);
  CHECK(w.server->roamed.empty());
  CHECK(w.server->endpoint->session(id)->endpoint == c.addr);
  CHECK(w.server->endpoint->counters().roam_unauthenticated == 2);
  CHECK(w.server->endpoint->counters().roam_challenges == 0);
  CHECK(w.server->delivered[id].size() == 1);
  // The session still works from the real address.
  REQUIRE(w.server->endpoint->send_packet(id, ip4_packet(90, 6), w.now));
  w.run_for(50);
  CHECK(c.delivered.size() == 1);
}

// The attack return routability stops: an on-path attacker copies the client's datagrams and
// gets each copy to the server first, from a victim's address. Without the check the session
// (and its bulk data) would follow the copy to the victim.
TEST_CASE("a copied datagram that wins the race from a forged address gets only a challenge",
          "[proto][session][roaming]") {
  World w;
  auto& c = w.add_client("203.0.113.5:50000");
  establish(w, c);
  uint64_t id = c.session->session_id();
  w.net.keep_log = true;
  const auto victim = *Endpoint::parse("192.0.2.66:6666");
  uint64_t victim_in = 0;
  for (int i = 0; i < 20; ++i) {
    size_t mark = w.net.log.size();
    REQUIRE(c.session->send_packet(ip4_packet(200, uint8_t(i)), w.now));
    auto copies = take_client_datagrams(w, c, mark);
    REQUIRE(copies.size() == 1);
    w.server->endpoint->on_datagram(victim, copies[0], w.now);  // the copy arrives first
    victim_in += copies[0].size();
    w.server->endpoint->on_datagram(c.addr, copies[0], w.now);  // the original: a replay now
    REQUIRE(w.server->endpoint->send_packet(id, ip4_packet(1200, uint8_t(i)), w.now));
    w.run_for(100);  // the challenges to the victim vanish; data reaches the client
  }
  CHECK(w.server->roamed.empty());
  CHECK(w.server->endpoint->session(id)->endpoint == c.addr);
  CHECK(w.server->delivered[id].size() == 20);
  CHECK(c.delivered.size() == 20);  // bulk data never left the validated address
  // The victim got challenges only (one per 250 ms at most), never more than 3x the copies' bytes.
  uint64_t to_victim = bytes_sent_to(w, victim);
  CHECK(to_victim > 0);
  CHECK(to_victim <= 3 * victim_in);
  CHECK(to_victim < 20 * 1200);
  CHECK(w.server->endpoint->counters().roam_challenges >= 2);
  CHECK(w.server->endpoint->counters().roam_challenges <= 10);
}

TEST_CASE("an unvalidated address gets at most 3x the bytes it sent", "[proto][session][roaming]") {
  World w;
  auto& c = w.add_client("203.0.113.5:50000");
  establish(w, c);
  uint64_t id = c.session->session_id();
  w.net.keep_log = true;
  const auto victim = *Endpoint::parse("192.0.2.66:6666");
  // One small authentic datagram from the victim's address, then many PINGs from the real client
  // copied to the victim: each PING's PONG goes back where the PING came from, within budget.
  REQUIRE(c.session->send_packet(ip4_packet(20, 1), w.now));
  auto first = take_client_datagrams(w, c, 0);
  REQUIRE(first.size() == 1);
  w.server->endpoint->on_datagram(victim, first[0], w.now);
  uint64_t victim_in = first[0].size();
  for (int i = 0; i < 50; ++i) {
    size_t mark = w.net.log.size();
    c.session->on_path_changed(w.now);  // makes the client PING at once
    auto pings = take_client_datagrams(w, c, mark);
    for (auto& p : pings) {
      w.server->endpoint->on_datagram(victim, p, w.now);
      victim_in += p.size();
      CHECK(bytes_sent_to(w, victim) <= 3 * victim_in);
    }
    w.now += 1;
  }
  CHECK(bytes_sent_to(w, victim) > 0);
  CHECK(w.server->roamed.empty());
  CHECK(w.server->endpoint->session(id)->endpoint == c.addr);
}

TEST_CASE("roaming to a second new address replaces the first candidate", "[proto][session][roaming]") {
  World w;
  auto& c = w.add_client("203.0.113.5:50000");
  establish(w, c);
  uint64_t id = c.session->session_id();
  const Endpoint old_addr = c.addr;
  w.net.unreachable = {old_addr};
  w.net.keep_log = true;
  // First move: the server's challenge is lost (the client moved on before it arrived).
  c.addr = *Endpoint::parse("192.0.2.77:61000");
  REQUIRE(c.session->send_packet(ip4_packet(80, 1), w.now));
  auto d = take_client_datagrams(w, c, 0);
  REQUIRE(d.size() == 1);
  w.server->endpoint->on_datagram(c.addr, d[0], w.now);
  std::erase_if(w.net.flight, [&](const SimNet::Packet& p) { return p.to == c.addr; });
  CHECK(w.server->roamed.empty());
  // Second move: the new address is validated; a late PONG from the first one would not count.
  c.addr = *Endpoint::parse("198.51.100.200:40000");
  REQUIRE(c.session->send_packet(ip4_packet(80, 2), w.now));
  w.run_for(50);
  REQUIRE(w.server->roamed == std::vector<uint64_t>{id});
  CHECK(w.server->endpoint->session(id)->endpoint == c.addr);
  CHECK(w.server->endpoint->counters().roam_challenges == 2);
  CHECK(w.server->delivered[id].size() == 2);
}

TEST_CASE("a PONG nobody asked for, or from the old address, moves nothing", "[proto][session][roaming]") {
  World w;
  auto& c = w.add_client("203.0.113.5:50000");
  establish(w, c);
  uint64_t id = c.session->session_id();
  w.net.keep_log = true;
  const Endpoint old_addr = c.addr;
  // A candidate is challenged, but the client's answer travels from its old address (it moved
  // back): the PONG matches the challenge but does not come from the candidate.
  c.addr = *Endpoint::parse("192.0.2.77:61000");
  REQUIRE(c.session->send_packet(ip4_packet(80, 1), w.now));
  auto d = take_client_datagrams(w, c, 0);
  w.server->endpoint->on_datagram(c.addr, d[0], w.now);
  CHECK(w.server->endpoint->counters().roam_challenges == 1);
  c.addr = old_addr;
  for (auto& p : w.net.flight) p.to = old_addr;  // the challenge reaches the client anyway
  w.run_for(50);
  CHECK(w.server->roamed.empty());
  CHECK(w.server->endpoint->session(id)->endpoint == old_addr);
  CHECK(w.server->endpoint->session(id)->stats.drop_unexpected >= 1);
  CHECK(up(c));
}
