// PeerLedger: lifetime numbers per peer name that survive reconnects, bounded in cardinality.
#include <catch2/catch.hpp>

#include "server/peer_ledger.hpp"

using namespace ptun;
using namespace ptun::server;

namespace {
proto::SessionStats stats(uint64_t bytes_in, uint64_t bytes_out, uint64_t pk_in, uint64_t pk_out) {
  proto::SessionStats s;
  s.bytes_in = bytes_in, s.bytes_out = bytes_out, s.packets_in = pk_in, s.packets_out = pk_out;
  return s;
}
}  // namespace

TEST_CASE("peer ledger: a reconnecting peer keeps adding to the same totals", "[server][ledger]") {
  PeerLedger l;
  l.set_listed({"alice", "bob"});
  REQUIRE(l.entries().size() == 2);   // listed peers exist (zeros) before they connect
  CHECK(l.entries().at("bob").sessions == 0);
  l.handshake("alice", 1000, 1900000000);
  l.established("alice");
  l.ended("alice", stats(100, 200, 1, 2));
  l.handshake("alice", 2000, 1950000000);   // reconnect: new session id, same name
  l.established("alice");
  l.ended("alice", stats(10, 20, 3, 4));
  const PeerTotals& a = l.entries().at("alice");
  CHECK(a.bytes_in == 110);
  CHECK(a.bytes_out == 220);
  CHECK(a.packets_in == 4);
  CHECK(a.packets_out == 6);
  CHECK(a.handshakes == 2);
  CHECK(a.sessions == 2);
  CHECK(a.last_handshake_unix == 2000);
  CHECK(a.cert_not_after == 1950000000);   // the certificate last presented
  l.handshake("alice", 3000, 0);            // unknown expiry (restored session): keeps the last known
  CHECK(l.entries().at("alice").cert_not_after == 1950000000);
}

TEST_CASE("peer ledger: unlisted names are bounded, the rest share (other)", "[server][ledger]") {
  PeerLedger l(3);
  l.set_listed({"alice"});
  for (int i = 0; i < 10; ++i) l.handshake("cn" + std::to_string(i), 1, 0);
  CHECK(l.entries().size() == 1 + 3 + 1);   // alice, cn0..cn2, (other)
  CHECK(l.entries().at("cn2").handshakes == 1);
  CHECK(l.entries().at(PeerLedger::kOther).handshakes == 7);
  CHECK(l.label("cn9") == PeerLedger::kOther);
  CHECK(l.label("cn1") == "cn1");
  // A listed name always has its own entry, however many unlisted ones came first.
  l.handshake("alice", 5, 0);
  CHECK(l.entries().at("alice").handshakes == 1);
  // Escaping is the exposition's job: any printable name is a key as it is.
  l.set_listed({"alice", "a\"b\\c"});
  CHECK(l.label("a\"b\\c") == "a\"b\\c");
}

TEST_CASE("peer ledger: a reload that drops a peer keeps it as unlisted while there is room", "[server][ledger]") {
  PeerLedger l(1);
  l.set_listed({"alice", "bob", "carol"});
  l.handshake("bob", 1, 0);
  l.handshake("carol", 1, 0);
  l.set_listed({"alice"});   // bob kept (room for 1 unlisted), carol forgotten
  CHECK(l.entries().count("bob") == 1);
  CHECK(l.entries().count("carol") == 0);
  CHECK(l.unlisted() == 1);
  l.handshake("carol", 2, 0);   // no room: counted under (other)
  CHECK(l.entries().at(PeerLedger::kOther).handshakes == 1);
  l.set_listed({"alice", "carol"});   // listed again: its own entry
  l.handshake("carol", 3, 0);
  CHECK(l.entries().at("carol").handshakes == 1);
  CHECK(l.entries().size() <= 3 + 1 + 1);
}
