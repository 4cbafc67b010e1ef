// DtlsSession's fast path (seal / open_begin / open_next) against mbedTLS's own record layer, over
// a real handshake in memory (dtls_pair.hpp), for both suites: records sealed in place open with
// mbedTLS's read(), write() records open in place, both share one sequence space and one replay
// window (interleaving, close_notify and a retransmitted last flight after fast traffic), and
// replayed, tampered, truncated, misframed and wrong-epoch records are dropped and counted.
#include <catch2/catch.hpp>

#include <cstring>
#include <set>

#include "dtls_pair.hpp"
#include "tls/dtls_record.hpp"
#include "tls_fixture.hpp"

using namespace ptun;
using namespace ptun::tls;
using namespace ptun::tls::testing;

namespace {

DtlsPair established(SuiteOrder order) {
  auto& pki = TestPki::get();
  DtlsPair p(pki.creds(pki.client), pki.creds(pki.server), opts(order), opts(order));
  REQUIRE(p.handshake());
  REQUIRE(p.client->fast_path_ready());
  REQUIRE(p.server->fast_path_ready());
  return p;
}

Datagram payload(size_t n, uint8_t seed) {
  Datagram d(n);
  for (size_t i = 0; i < n; ++i) d[i] = uint8_t(seed + i * 7);
  return d;
}

// Seals `plain` with `s` in a buffer laid out as the API asks; returns the record's bytes.
Datagram seal(DtlsSession& s, const Datagram& plain) {
  std::vector<uint8_t> buf(kMaxSealHeadroom + plain.size() + DtlsSession::seal_tailroom());
  std::memcpy(buf.data() + kMaxSealHeadroom, plain.data(), plain.size());
  auto r = s.seal(buf.data() + kMaxSealHeadroom, plain.size());
  REQUIRE(r);
  REQUIRE(r->data() == buf.data() + kMaxSealHeadroom - s.seal_headroom());
  REQUIRE(r->size() == s.seal_headroom() + plain.size() + DtlsSession::seal_tailroom());
  return Datagram(r->begin(), r->end());
}

// Opens a datagram on the fast path (REQUIRE it takes it); returns the plaintexts, each checked
// to lie inside the datagram (in place).
std::vector<Datagram> open_fast(DtlsSession& s, Datagram d) {
  RecordCursor c;
  REQUIRE(s.open_begin(d, &c) == DatagramPath::fast);
  std::vector<Datagram> out;
  std::span<uint8_t> plain;
  for (int guard = 0; guard < 1000 && s.open_next(c, &plain); ++guard) {
    REQUIRE(plain.data() >= d.data());
    REQUIRE(plain.data() + plain.size() <= d.data() + d.size());
    out.emplace_back(plain.begin(), plain.end());
  }
  return out;
}

// The datagram the last write() on `q`'s sender emitted.
Datagram take(Queue& q) {
  REQUIRE(q.size() == 1);
  Datagram d = std::move(q.front());
  q.pop_front();
  return d;
}

wire::RecordHeader header_of(const Datagram& d) {
  wire::RecordHeader h;
  REQUIRE(wire::parse_record_header(d, &h));
  return h;
}

std::vector<wire::RecordHeader> headers_of(std::span<const uint8_t> d) {
  std::vector<wire::RecordHeader> out;
  wire::RecordHeader h;
  while (wire::parse_record_header(d, &h)) {
    out.push_back(h);
    d = d.subspan(wire::kRecordHeaderLen + h.length);
  }
  return out;
}

struct Suite {
  SuiteOrder order;
  const char* name;
  size_t headroom;
};

Suite suites() {
  return GENERATE(Suite{SuiteOrder::aes_only, "AES-128-GCM", 21}, Suite{SuiteOrder::chacha_only, "CHACHA20", 13});
}

}  // namespace

TEST_CASE("fast path: sealed records open with mbedTLS, write() records open in place", "[tls][fast]") {
  Suite suite = suites();
  INFO(suite.name);
  DtlsPair p = established(suite.order);
  CHECK(p.client->seal_headroom() == suite.headroom);
  CHECK(p.client->seal_headroom() + DtlsSession::seal_tailroom() == p.client->record_overhead());

  SECTION("seal -> mbedTLS read(), both directions") {
    Datagram a = payload(1400, 1), b = payload(1, 2), c = payload(p.client->max_plaintext(), 3);
    for (const Datagram& m : {a, b, c}) p.deliver_to_server(seal(*p.client, m));
    p.deliver_to_client(seal(*p.server, a));
    REQUIRE(p.server_rx == std::vector<Datagram>{a, b, c});
    REQUIRE(p.client_rx == std::vector<Datagram>{a});
    CHECK(p.server->stats().dropped_replay_or_auth == 0);
    CHECK(p.client->stats().records_out_fast == 3);
    CHECK(p.client->stats().records_out == 3);
  }
  SECTION("write() -> open in place, both directions") {
    Datagram a = payload(1400, 4);
    REQUIRE(p.client->write(a, p.now));
    Datagram rec = take(p.to_server);
    CHECK(rec.size() == suite.headroom + a.size() + 16);  // same layout as seal()
    CHECK(open_fast(*p.server, rec) == std::vector<Datagram>{a});
    REQUIRE(p.server->write(a, p.now));
    CHECK(open_fast(*p.client, take(p.to_client)) == std::vector<Datagram>{a});
    CHECK(p.server->stats().records_in_fast == 1);
    CHECK(p.server->stats().datagrams_in_fast == 1);
  }
  SECTION("a sealed record has mbedTLS's layout: explicit GCM nonce = epoch|seq") {
    Datagram a = payload(100, 5);
    REQUIRE(p.client->write(a, p.now));
    Datagram w = take(p.to_server);
    Datagram s = seal(*p.client, a);
    auto hw = header_of(w), hs = header_of(s);
    CHECK(hs.type == hw.type);
    CHECK(hs.version_major == hw.version_major);
    CHECK(hs.version_minor == hw.version_minor);
    CHECK(hs.epoch == 1);
    CHECK(hw.epoch == 1);
    CHECK(hs.seq == hw.seq + 1);
    CHECK(hs.length == hw.length);
    if (suite.headroom == 21) {
      for (const Datagram* d : {&w, &s}) CHECK(std::equal(d->begin() + 3, d->begin() + 11, d->begin() + 13));
    }
  }
  SECTION("seal refuses what does not fit, before writing anything") {
    std::vector<uint8_t> buf(kMaxSealHeadroom + 20000);
    auto r = p.client->seal(buf.data() + kMaxSealHeadroom, p.client->max_plaintext() + 1);
    REQUIRE(!r);
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK(p.client->stats().records_out == 0);
  }
}

TEST_CASE("fast path: one sequence space with write(), alerts and retransmitted flights", "[tls][fast]") {
  Suite suite = suites();
  INFO(suite.name);

  SECTION("interleaved write() and seal() carry unique increasing numbers and all open") {
    DtlsPair p = established(suite.order);
    std::vector<Datagram> wire_records;
    for (int i = 0; i < 40; ++i) {
      Datagram m = payload(200 + i, uint8_t(i));
      if (i % 3 == 0) {
        REQUIRE(p.client->write(m, p.now));
        wire_records.push_back(take(p.to_server));
      } else {
        wire_records.push_back(seal(*p.client, m));
      }
    }
    uint64_t prev = 0;
    std::set<uint64_t> seen;
    for (size_t i = 0; i < wire_records.size(); ++i) {
      auto h = header_of(wire_records[i]);
      CHECK(h.epoch == 1);
      if (i > 0) CHECK(h.seq == prev + 1);
      CHECK(seen.insert(h.seq).second);
      prev = h.seq;
    }
    // Opened alternately by the two paths on the other side: every one accepted once.
    for (size_t i = 0; i < wire_records.size(); ++i) {
      if (i % 2 == 0) {
        CHECK(open_fast(*p.server, wire_records[i]).size() == 1);
      } else {
        p.deliver_to_server(wire_records[i]);
      }
    }
    CHECK(p.server_rx.size() == wire_records.size() / 2);
    CHECK(p.server->stats().records_in == wire_records.size());
    CHECK(p.server->stats().dropped_replay_or_auth == 0);
  }

  SECTION("close_notify after fast traffic is accepted by the peer") {
    DtlsPair p = established(suite.order);
    for (int i = 0; i < 70; ++i) CHECK(open_fast(*p.client, seal(*p.server, payload(64, uint8_t(i)))).size() == 1);
    for (int i = 0; i < 5; ++i) CHECK(open_fast(*p.server, seal(*p.client, payload(64, uint8_t(i)))).size() == 1);
    uint64_t last_fast = 0;
    {
      Datagram probe = seal(*p.server, payload(8, 0));
      last_fast = header_of(probe).seq;
    }
    p.server->close_notify(p.now);
    Datagram alert = take(p.to_client);
    CHECK(header_of(alert).type == wire::kContentAlert);
    CHECK(header_of(alert).seq == last_fast + 1);  // numbered after the fast records
    RecordCursor c;
    CHECK(p.client->open_begin(alert, &c) == DatagramPath::slow);
    p.deliver_to_client(alert);
    CHECK(p.client_read_error == "peer sent close_notify");
    CHECK(!p.client->fast_path_ready());
    CHECK(p.client->open_begin(alert, &c) == DatagramPath::slow);
    CHECK(!p.client->seal(alert.data() + 21, 1));
  }

  SECTION("close_notify from the client after its fast records") {
    DtlsPair p = established(suite.order);
    for (int i = 0; i < 3; ++i) CHECK(open_fast(*p.server, seal(*p.client, payload(64, uint8_t(i)))).size() == 1);
    p.client->close_notify(p.now);
    p.deliver_to_server(take(p.to_server));
    CHECK(p.server_read_error == "peer sent close_notify");
  }

  SECTION("a server's retransmitted last flight is numbered after its fast records") {
    auto& pki = TestPki::get();
    DtlsPair p(pki.creds(pki.client), pki.creds(pki.server), opts(suite.order), opts(suite.order));
    bool losing = true;
    p.drop = [&](Dir d, size_t, const Datagram&) {
      return losing && d == Dir::to_client && p.server && p.server->established();
    };
    p.start();
    p.pump();  // the server's CCS + Finished are lost
    REQUIRE(p.server->established());
    REQUIRE(!p.client->established());
    REQUIRE(p.server->fast_path_ready());
    std::vector<Datagram> early;
    for (int i = 0; i < 3; ++i) early.push_back(seal(*p.server, payload(50, uint8_t(i))));
    uint64_t last_early = header_of(early.back()).seq;
    RecordCursor c;
    CHECK(p.client->open_begin(early[0], &c) == DatagramPath::slow);  // no keys in use yet

    losing = false;
    std::vector<Datagram> resent;
    p.drop = [&](Dir d, size_t, const Datagram& dg) {
      if (d == Dir::to_client) resent.push_back(dg);
      return false;
    };
    p.now = p.client->next_timeout();
    p.client->on_timeout(p.now);  // retransmits its last flight; the server resends its own
    p.pump();
    REQUIRE(p.client->established());
    bool saw_finished = false;
    for (const Datagram& dg : resent) {
      for (const auto& h : headers_of(dg)) {
        if (h.epoch != 1) continue;
        saw_finished = true;
        CHECK(h.seq > last_early);
      }
    }
    CHECK(saw_finished);
    // The client's window now holds the retransmitted Finished; fast records after it open.
    CHECK(open_fast(*p.client, seal(*p.server, payload(30, 9))).size() == 1);
    CHECK(open_fast(*p.server, seal(*p.client, payload(30, 9))).size() == 1);
  }
}

TEST_CASE("fast path: replays are dropped, shared with mbedTLS's window", "[tls][fast]") {
  Suite suite = suites();
  INFO(suite.name);
  DtlsPair p = established(suite.order);
  std::vector<Datagram> recs;
  for (int i = 0; i < 80; ++i) recs.push_back(seal(*p.client, payload(40, uint8_t(i))));

  SECTION("exact duplicate, through either path") {
    CHECK(open_fast(*p.server, recs[0]).size() == 1);
    CHECK(open_fast(*p.server, recs[0]).empty());
    p.deliver_to_server(recs[0]);  // mbedTLS sees the number the fast path accepted
    CHECK(p.server_rx.empty());
    p.deliver_to_server(recs[1]);
    CHECK(p.server_rx.size() == 1);
    CHECK(open_fast(*p.server, recs[1]).empty());  // and the other way round
    CHECK(p.server->stats().dropped_replay_or_auth == 3);
    CHECK(p.server->stats().dropped_bad_mac == 0);
  }
  SECTION("older than the window dropped; inside it, out of order, accepted once") {
    CHECK(open_fast(*p.server, recs[79]).size() == 1);
    CHECK(open_fast(*p.server, recs[0]).empty());   // 79 behind
    CHECK(open_fast(*p.server, recs[15]).empty());  // 64 behind: just outside
    CHECK(open_fast(*p.server, recs[16]).size() == 1);  // 63 behind: the window's last slot
    CHECK(open_fast(*p.server, recs[40]).size() == 1);
    CHECK(open_fast(*p.server, recs[40]).empty());
    CHECK(open_fast(*p.server, recs[78]).size() == 1);
    CHECK(p.server->stats().dropped_replay_or_auth == 3);
    CHECK(p.server->stats().records_in_fast == 4);
  }
}

TEST_CASE("fast path: tampered, misframed and wrong-epoch records are dropped and counted", "[tls][fast]") {
  Suite suite = suites();
  INFO(suite.name);
  DtlsPair p = established(suite.order);
  const size_t nonce_at = 13, data_at = suite.headroom;
  Datagram good = seal(*p.client, payload(300, 7));

  auto flipped = [&](size_t at) {
    Datagram d = good;
    d[at] ^= 0x01;
    return d;
  };
  auto stats = [&] { return p.server->stats(); };

  SECTION("tampered bytes fail authentication; the original still opens once") {
    // 3-4 epoch, 5 and 9 sequence number (to numbers not seen yet), then data and tag.
    std::vector<size_t> spots = {3, 4, 5, 9, data_at, data_at + 150, good.size() - 16, good.size() - 1};
    if (suite.headroom == 21) spots.push_back(nonce_at + 7);  // explicit nonce
    for (size_t at : spots) {
      INFO("flipped byte " << at);
      CHECK(open_fast(*p.server, flipped(at)).empty());
    }
    // byte 3-4: epoch changes (wrong epoch), the others fail the tag
    CHECK(stats().dropped_bad_mac == spots.size() - 2);
    CHECK(stats().dropped_replay_or_auth == spots.size());
    CHECK(open_fast(*p.server, good).size() == 1);
    CHECK(open_fast(*p.server, good).empty());
  }
  SECTION("the header's type or version changed") {
    RecordCursor c;
    Datagram t = flipped(0);  // 23 -> 22: a handshake record, mbedTLS's business
    CHECK(p.server->open_begin(t, &c) == DatagramPath::slow);
    p.deliver_to_server(t);
    CHECK(p.server_rx.empty());
    CHECK(p.server->established());
    CHECK(open_fast(*p.server, flipped(2)).empty());
    CHECK(stats().dropped_malformed == 1);
    CHECK(open_fast(*p.server, good).size() == 1);
  }
  SECTION("a length field that lies") {
    Datagram longer = good;
    longer[12] += 1;  // one byte past the datagram
    CHECK(open_fast(*p.server, longer).empty());
    CHECK(stats().dropped_malformed == 1);
    Datagram shorter = good;
    shorter[12] -= 5;  // the tag is cut, 5 trailing bytes read as a truncated header
    CHECK(open_fast(*p.server, shorter).empty());
    CHECK(stats().dropped_bad_mac == 1);
    CHECK(stats().dropped_malformed == 2);
    Datagram tiny = good;
    tiny[11] = 0;
    tiny[12] = uint8_t(suite.headroom - 13 + 15);  // one byte short of nonce + tag
    tiny.resize(13 + tiny[12]);
    CHECK(open_fast(*p.server, tiny).empty());
    CHECK(stats().dropped_malformed == 3);
    CHECK(open_fast(*p.server, good).size() == 1);
  }
  SECTION("truncated records") {
    for (size_t keep : {size_t(1), size_t(12), size_t(13), size_t(30), good.size() - 1}) {
      Datagram d(good.begin(), good.begin() + long(keep));
      CHECK(open_fast(*p.server, d).empty());
    }
    CHECK(stats().dropped_malformed == 5);
    CHECK(stats().records_in == 0);
    CHECK(open_fast(*p.server, good).size() == 1);
  }
  SECTION("wrong epochs: 0 and 2") {
    for (uint8_t e : {uint8_t(0), uint8_t(2)}) {
      Datagram d = good;
      d[4] = e;
      CHECK(open_fast(*p.server, d).empty());
      p.deliver_to_server(d);  // mbedTLS drops it too
    }
    CHECK(stats().dropped_replay_or_auth == 4);
    CHECK(p.server_rx.empty());
    CHECK(open_fast(*p.server, good).size() == 1);
  }
  SECTION("too short a datagram to hold anything") {
    CHECK(open_fast(*p.server, Datagram{}).empty());
    CHECK(stats().dropped_malformed == 0);
    CHECK(open_fast(*p.server, Datagram{23}).empty());
    CHECK(stats().dropped_malformed == 1);
  }
}

TEST_CASE("fast path: several records in one datagram", "[tls][fast]") {
  Suite suite = suites();
  INFO(suite.name);
  DtlsPair p = established(suite.order);
  Datagram a = payload(100, 1), b = payload(1, 2), c = payload(1300, 3);
  auto joined = [&](std::initializer_list<Datagram> parts) {
    Datagram d;
    for (const Datagram& x : parts) d.insert(d.end(), x.begin(), x.end());
    return d;
  };

  SECTION("all opened in place, in order") {
    Datagram d = joined({seal(*p.client, a), seal(*p.client, b), seal(*p.client, c)});
    CHECK(open_fast(*p.server, d) == std::vector<Datagram>{a, b, c});
    CHECK(p.server->stats().datagrams_in_fast == 1);
  }
  SECTION("mbedTLS reads the same packing") {
    p.deliver_to_server(joined({seal(*p.client, a), seal(*p.client, b), seal(*p.client, c)}));
    CHECK(p.server_rx == std::vector<Datagram>{a, b, c});
  }
  SECTION("a forged record in the middle costs only itself") {
    Datagram bad = seal(*p.client, b);
    bad[20] ^= 0x80;
    CHECK(open_fast(*p.server, joined({seal(*p.client, a), bad, seal(*p.client, c)})) == std::vector<Datagram>{a, c});
    CHECK(p.server->stats().dropped_bad_mac == 1);
  }
  SECTION("a lying length ends the walk after the good records before it") {
    Datagram bad = seal(*p.client, b);
    bad[12] = 0xff;
    CHECK(open_fast(*p.server, joined({seal(*p.client, a), bad})) == std::vector<Datagram>{a});
    CHECK(p.server->stats().dropped_malformed == 1);
  }
  SECTION("application data packed with an alert goes to mbedTLS whole") {
    Datagram rec = seal(*p.client, a);
    p.client->close_notify(p.now);
    Datagram d = joined({rec, take(p.to_server)});
    RecordCursor cur;
    CHECK(p.server->open_begin(d, &cur) == DatagramPath::slow);
    p.deliver_to_server(d);
    CHECK(p.server_rx == std::vector<Datagram>{a});
    CHECK(p.server_read_error == "peer sent close_notify");
  }
}

TEST_CASE("fast path: unavailable before the handshake and after close", "[tls][fast]") {
  auto& pki = TestPki::get();
  DtlsPair p(pki.creds(pki.client), pki.creds(pki.server), opts(), opts());
  p.start();
  CHECK(!p.client->fast_path_ready());
  CHECK(p.client->seal_headroom() == kMaxSealHeadroom);
  std::vector<uint8_t> buf(100);
  auto r = p.client->seal(buf.data() + kMaxSealHeadroom, 10);
  REQUIRE(!r);
  CHECK(r.error().code == Errc::closed);
  Datagram hello = p.to_server.front();
  RecordCursor c;
  CHECK(p.client->open_begin(hello, &c) == DatagramPath::slow);
  REQUIRE(p.handshake());
  CHECK(p.client->fast_path_ready());
  p.client->close_notify(p.now);
  CHECK(!p.client->fast_path_ready());
  r = p.client->seal(buf.data() + kMaxSealHeadroom, 10);
  REQUIRE(!r);
  CHECK(r.error().code == Errc::closed);
}
