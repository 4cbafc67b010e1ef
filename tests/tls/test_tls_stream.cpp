// TlsStream, the TCP transport's outer TLS layer: a client and a server driven against each other
// in memory, the bytes between them delivered whole, byte by byte, or tampered with.
#include <catch2/catch.hpp>

#include "tls/tls_stream.hpp"
#include "tls_fixture.hpp"

using namespace ptun;
using namespace ptun::tls;
using namespace ptun::tls::testing;

namespace {

struct StreamPair {
  SeededRng client_rng{0xc11e47}, server_rng{0x5e7e7};
  std::unique_ptr<TlsStream> client, server;
  std::vector<uint8_t> at_client, at_server;   // application bytes each side received

  StreamPair(std::shared_ptr<Credentials> client_creds, std::shared_ptr<Credentials> server_creds,
             const std::string& name = "vpn.example.org") {
    auto cc = TlsStreamConfig::make_client(std::move(client_creds), client_rng);
    auto sc = TlsStreamConfig::make_server(std::move(server_creds), server_rng);
    REQUIRE(cc);
    REQUIRE(sc);
    auto c = TlsStream::make(*cc, name);
    auto s = TlsStream::make(*sc);
    REQUIRE(c);
    REQUIRE(s);
    client = std::move(*c);
    server = std::move(*s);
  }
  // Moves each side's outbox to the other, `chunk` bytes per feed (0: all at once), until both
  // are quiet. False as soon as a side fails.
  bool pump(size_t chunk = 0) {
    for (int round = 0; round < 50; ++round) {
      if (client->outbox().empty() && server->outbox().empty()) return true;
      if (!deliver(*client, *server, at_server, chunk) || !deliver(*server, *client, at_client, chunk)) return false;
    }
    return false;
  }
  static bool deliver(TlsStream& from, TlsStream& to, std::vector<uint8_t>& sink, size_t chunk) {
    std::vector<uint8_t> bytes;
    bytes.swap(from.outbox());
    auto take = [&](std::span<const uint8_t> d) { sink.insert(sink.end(), d.begin(), d.end()); };
    size_t step = chunk ? chunk : std::max<size_t>(bytes.size(), 1);
    for (size_t off = 0; off < bytes.size(); off += step) {
      auto part = std::span<const uint8_t>(bytes).subspan(off, std::min(step, bytes.size() - off));
      if (!to.feed(part, take)) return false;
    }
    return true;
  }
  bool handshake(size_t chunk = 0) {
    if (!client->start()) return false;
    return pump(chunk) && client->established() && server->established();
  }
};

StreamPair good_pair() {
  auto& pki = TestPki::get();
  return StreamPair(pki.creds(pki.client), pki.creds(pki.server));
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 7);
  return v;
}

}  // namespace

TEST_CASE("TLS stream: handshake, then data both ways, whole and byte by byte", "[tls][stream]") {
  for (size_t chunk : {size_t(0), size_t(1), size_t(333)}) {
    INFO("chunk " << chunk);
    StreamPair p = good_pair();
    REQUIRE(p.handshake(chunk));
    CHECK(p.client->peer_common_name() == "vpn.example.org");
    CHECK(p.client->cipher() == "TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256");
    auto up = pattern(100'000, 1), down = pattern(40'000, 2);   // several 16 KiB records
    REQUIRE(p.client->write(up));
    REQUIRE(p.server->write(down));
    REQUIRE(p.pump(chunk));
    CHECK(p.at_server == up);
    CHECK(p.at_client == down);
  }
}

TEST_CASE("TLS stream: what a middlebox sees is a TLS 1.2 handshake with the server's name", "[tls][stream]") {
  StreamPair p = good_pair();
  REQUIRE(p.client->start());
  const auto& hello = p.client->outbox();
  REQUIRE(hello.size() > 50);
  CHECK(hello[0] == 22);   // handshake record
  CHECK(hello[1] == 3);
  CHECK(hello[5] == 1);    // ClientHello
  std::string bytes(hello.begin(), hello.end());
  CHECK(bytes.find("vpn.example.org") != std::string::npos);   // SNI
}

TEST_CASE("TLS stream: a server of another CA or under another name is refused", "[tls][stream]") {
  auto& pki = TestPki::get();
  {
    StreamPair p(pki.creds(pki.client), pki.other_ca.creds(pki.rogue_server));
    CHECK_FALSE(p.handshake());
    CHECK(p.client->failed());
    CHECK_FALSE(p.client->established());
  }
  {
    StreamPair p(pki.creds(pki.client), pki.creds(pki.server), "other.example.org");
    CHECK_FALSE(p.handshake());
    CHECK(p.client->error().find("name") != std::string::npos);
  }
  {
    StreamPair p(pki.creds(pki.client), pki.creds(pki.expired_server));
    CHECK_FALSE(p.handshake());
    CHECK(p.client->failed());
  }
}

TEST_CASE("TLS stream: garbage, a tampered record and close_notify end the stream", "[tls][stream]") {
  auto ignore = [](std::span<const uint8_t>) {};
  SECTION("garbage instead of a ClientHello") {
    StreamPair p = good_pair();
    std::vector<uint8_t> junk = pattern(300, 9);
    CHECK_FALSE(p.server->feed(junk, ignore));
    CHECK(p.server->failed());
    CHECK_FALSE(p.server->feed(junk, ignore));   // stays failed
  }
  SECTION("a flipped byte in an application record") {
    StreamPair p = good_pair();
    REQUIRE(p.handshake());
    REQUIRE(p.client->write(pattern(500, 3)));
    auto& rec = p.client->outbox();
    rec[rec.size() - 20] ^= 0x40;
    std::vector<uint8_t> got;
    CHECK_FALSE(p.server->feed(rec, [&](std::span<const uint8_t> d) { got.insert(got.end(), d.begin(), d.end()); }));
    CHECK(got.empty());
    CHECK(p.server->failed());
  }
  SECTION("close_notify") {
    StreamPair p = good_pair();
    REQUIRE(p.handshake());
    p.client->close();
    auto r = p.server->feed(p.client->outbox(), ignore);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::closed);
  }
  SECTION("writing before the handshake") {
    StreamPair p = good_pair();
    CHECK_FALSE(p.client->write(pattern(10, 1)));
  }
}

TEST_CASE("TLS stream: a client needs a server name", "[tls][stream]") {
  auto& pki = TestPki::get();
  SeededRng rng(1);
  auto cc = TlsStreamConfig::make_client(pki.creds(pki.client), rng);
  REQUIRE(cc);
  CHECK_FALSE(TlsStream::make(*cc, ""));
}
