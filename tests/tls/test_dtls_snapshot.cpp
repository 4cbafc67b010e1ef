// DtlsSession::snapshot/restore (the fuzz harnesses' way to start every input from one
// established association): restored copies talk to each other through mbedTLS and the fast path,
// two copies of one snapshot behave identically, and misuse is refused.
#include <catch2/catch.hpp>

#include <cstring>

#include "dtls_pair.hpp"
#include "tls_fixture.hpp"

using namespace ptun;
using namespace ptun::tls;
using namespace ptun::tls::testing;

namespace {

struct Snapshots {
  DtlsSnapshot client, server;
};

// A real handshake with keys kept, one record each way (no handshake state left), then frozen.
Snapshots freeze(DtlsPair& p) {
  p.start();
  p.client->keep_keys_for_snapshot();
  for (int i = 0; i < 100 && !p.server; ++i) {
    REQUIRE(!p.to_server.empty());
    Datagram d = std::move(p.to_server.front());
    p.to_server.pop_front();
    p.deliver_to_server(d);
    while (!p.to_client.empty()) {
      Datagram r = std::move(p.to_client.front());
      p.to_client.pop_front();
      p.deliver_to_client(r);
    }
  }
  REQUIRE(p.server);
  p.server->keep_keys_for_snapshot();
  REQUIRE(p.handshake());
  const uint8_t x[1] = {0};
  REQUIRE(p.client->write(x, p.now));
  p.pump();
  REQUIRE(p.server->write(x, p.now));
  p.pump();
  auto c = p.client->snapshot();
  auto s = p.server->snapshot();
  REQUIRE(c);
  REQUIRE(s);
  CHECK_FALSE(p.client->established());  // mbedTLS reset it
  CHECK(c->has_record_keys);
  CHECK(s->peer_cn == "alice");
  return {std::move(*c), std::move(*s)};
}

std::unique_ptr<DtlsSession> restored(std::shared_ptr<DtlsConfig> cfg, Queue& out, const DtlsSnapshot& snap) {
  auto s = std::make_unique<DtlsSession>(std::move(cfg), push_datagram, &out);
  auto r = s->restore(snap);
  INFO((r ? "" : r.error().message));
  REQUIRE(r);
  REQUIRE(s->established());
  REQUIRE(s->fast_path_ready());
  return s;
}

std::vector<Datagram> read_all(DtlsSession& s, const Datagram& d, uint64_t now) {
  s.feed(d, now);
  std::vector<Datagram> out;
  uint8_t buf[4096];
  for (;;) {
    auto r = s.read(buf, sizeof buf, now);
    REQUIRE(r);
    if (*r == 0) return out;
    out.emplace_back(buf, buf + *r);
  }
}

}  // namespace

TEST_CASE("snapshot: restored copies of both ends talk, slow and fast path", "[tls][snapshot]") {
  auto order = GENERATE(SuiteOrder::aes_only, SuiteOrder::chacha_only);
  auto& pki = TestPki::get();
  DtlsPair p(pki.creds(pki.client), pki.creds(pki.server), opts(order), opts(order));
  Snapshots snap = freeze(p);

  Queue c_out, s_out;
  auto client = restored(p.client_cfg, c_out, snap.client);
  auto server = restored(p.server_cfg, s_out, snap.server);
  CHECK(client->peer_common_name() == "vpn.example.org");
  CHECK(server->peer_common_name() == "alice");

  // Client -> server through mbedTLS's record layer.
  const Datagram hello{0x01, 0x02, 0x03};
  REQUIRE(client->write(hello, p.now));
  REQUIRE(c_out.size() == 1);
  auto got = read_all(*server, c_out.front(), p.now);
  REQUIRE(got.size() == 1);
  CHECK(got[0] == hello);
  // The same datagram again is a replay: the restored window and counters are live.
  CHECK(read_all(*server, c_out.front(), p.now).empty());

  // Server -> client sealed in place, opened in place.
  std::vector<uint8_t> buf(kMaxSealHeadroom + 4 + DtlsSession::seal_tailroom());
  std::memcpy(buf.data() + kMaxSealHeadroom, "ping", 4);
  auto rec = server->seal(buf.data() + kMaxSealHeadroom, 4);
  REQUIRE(rec);
  Datagram d(rec->begin(), rec->end());
  RecordCursor cur;
  REQUIRE(client->open_begin(d, &cur) == DatagramPath::fast);
  std::span<uint8_t> plain;
  REQUIRE(client->open_next(cur, &plain));
  CHECK(std::string(plain.begin(), plain.end()) == "ping");
}

TEST_CASE("snapshot: every restore starts from the same state", "[tls][snapshot]") {
  auto& pki = TestPki::get();
  DtlsPair p(pki.creds(pki.client), pki.creds(pki.server));
  Snapshots snap = freeze(p);
  Queue out1, out2, s_out;
  auto a = restored(p.client_cfg, out1, snap.client);
  auto b = restored(p.client_cfg, out2, snap.client);
  const Datagram msg{9, 8, 7, 6};
  REQUIRE(a->write(msg, p.now));
  REQUIRE(b->write(msg, p.now));
  REQUIRE(out1.size() == 1);
  REQUIRE(out2.size() == 1);
  CHECK(out1.front() == out2.front());  // same sequence number, same keys: same bytes
  // A server restored afresh accepts each copy once (its window starts from the snapshot too).
  auto s1 = restored(p.server_cfg, s_out, snap.server);
  CHECK(read_all(*s1, out1.front(), p.now).size() == 1);
  auto s2 = restored(p.server_cfg, s_out, snap.server);
  CHECK(read_all(*s2, out2.front(), p.now).size() == 1);
}

TEST_CASE("snapshot: refused before the handshake, restore refuses garbage", "[tls][snapshot]") {
  auto& pki = TestPki::get();
  DtlsPair p(pki.creds(pki.client), pki.creds(pki.server));
  p.start();
  CHECK_FALSE(p.client->snapshot());
  DtlsSnapshot junk;
  junk.context = {1, 2, 3, 4};
  Queue q;
  DtlsSession s(p.client_cfg, push_datagram, &q);
  CHECK_FALSE(s.restore(junk));
  CHECK_FALSE(s.established());
}
