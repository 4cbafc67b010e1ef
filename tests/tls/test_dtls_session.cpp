// Client and server DtlsSession driven against each other in memory (see dtls_pair.hpp): the
// cookie exchange, both cipher suites, loss recovered by retransmission, replay and reordering,
// garbage, and the certificate failures with their human-readable reasons.
#include <catch2/catch.hpp>

#include "dtls_pair.hpp"
#include "tls/dtls_config.hpp"
#include "tls/dtls_record.hpp"
#include "tls/mbedtls_util.hpp"
#include "tls/record_aead.hpp"
#include "tls_fixture.hpp"

using namespace ptun;
using namespace ptun::tls;
using namespace ptun::tls::testing;

namespace {

constexpr const char* kAes = "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256";
constexpr const char* kChaCha = "TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256";

DtlsPair good_pair(SuiteOrder order = SuiteOrder::automatic) {
  auto& pki = TestPki::get();
  return DtlsPair(pki.creds(pki.client), pki.creds(pki.server), opts(order), opts(order));
}

Datagram bytes(const std::string& s) { return Datagram(s.begin(), s.end()); }

// Writes on `from` and returns the datagrams it emitted (undelivered).
std::vector<Datagram> write_records(DtlsPair& p, DtlsSession& from, Queue& q, int n, size_t size) {
  std::vector<Datagram> out;
  for (int i = 0; i < n; ++i) {
    Datagram plain(size, uint8_t('a' + i));
    REQUIRE(from.write(plain, p.now));
    REQUIRE(q.size() == 1);
    out.push_back(std::move(q.front()));
    q.pop_front();
  }
  return out;
}

}  // namespace

TEST_CASE("full handshake through CookieGuard", "[tls][session]") {
  DtlsPair p = good_pair();
  REQUIRE(p.handshake());
  CHECK(p.now == 0);  // no retransmission needed without loss

  // First ClientHello (no cookie) answered by the guard, second one accepted: a real mbedTLS
  // client took the guard's HelloVerifyRequest, and the session took the guard's cookie.
  REQUIRE(p.verdicts.size() == 2);
  CHECK(p.verdicts[0] == CookieGuard::Verdict::no_or_bad_cookie);
  CHECK(p.verdicts[1] == CookieGuard::Verdict::ok);
  REQUIRE(p.guard_replies.size() == 1);
  CHECK(p.guard_replies[0].size() <= p.guard_inputs[0].size());
  CHECK(p.server->stats().hello_verify_sent == 0);

  CHECK(p.client->established());
  CHECK(p.server->established());
  CHECK(p.client->peer_common_name() == "vpn.example.org");
  CHECK(p.server->peer_common_name() == "alice");
  // The fingerprint a [[peer]] pin is checked against: SHA-256 of the certificate the peer sent.
  auto& pki = TestPki::get();
  REQUIRE(p.server->peer_fingerprint());
  CHECK(*p.server->peer_fingerprint() == detail::fingerprint_of(pki.creds(pki.client)->cert()));
  CHECK(*p.server->peer_fingerprint() != detail::fingerprint_of(pki.creds(pki.server)->cert()));
  CHECK(*p.client->peer_fingerprint() == detail::fingerprint_of(pki.creds(pki.server)->cert()));
  CHECK(p.client->ciphersuite() == p.server->ciphersuite());
  // automatic: AES-128-GCM first where OpenSSL seals records on a CPU with AES-NI, else
  // ChaCha20-Poly1305 (mbedTLS's faster AEAD, with or without AES-NI)
  CHECK(p.client->ciphersuite() == (kRecordAeadIsOpenssl && has_aesni() ? kAes : kChaCha));
  CHECK(p.client->next_timeout() == UINT64_MAX);
  CHECK(p.server->next_timeout() == UINT64_MAX);
}

TEST_CASE("data both ways with both cipher suites", "[tls][session]") {
  auto [order, name, overhead] = GENERATE(std::make_tuple(SuiteOrder::aes_only, kAes, size_t(13 + 8 + 16)),
                                          std::make_tuple(SuiteOrder::chacha_only, kChaCha, size_t(13 + 16)));
  DtlsPair p = good_pair(order);
  REQUIRE(p.handshake());
  CHECK(p.client->ciphersuite() == name);
  CHECK(p.client->record_overhead() == overhead);
  CHECK(p.client->max_plaintext() == 16384);  // data_mtu 0: only the record size limits

  REQUIRE(p.client->write(bytes("ping from client"), p.now));
  REQUIRE(p.server->write(bytes("pong from server"), p.now));
  Datagram big(1400, 0x5a);
  REQUIRE(p.client->write(big, p.now));
  REQUIRE(p.to_server.back().size() == 1400 + overhead);  // one record, one datagram
  p.pump();
  REQUIRE(p.server_rx.size() == 2);
  CHECK(p.server_rx[0] == bytes("ping from client"));
  CHECK(p.server_rx[1] == big);
  REQUIRE(p.client_rx.size() == 1);
  CHECK(p.client_rx[0] == bytes("pong from server"));
  CHECK(p.server->stats().records_in == 2);
  CHECK(p.client->stats().records_out == 2);
  CHECK(p.server->stats().dropped_replay_or_auth == 0);
}

TEST_CASE("suite order follows the server's preference", "[tls][session]") {
  auto& pki = TestPki::get();
  DtlsPair a(pki.creds(pki.client), pki.creds(pki.server), opts(SuiteOrder::aes_first),
             opts(SuiteOrder::chacha_first));
  REQUIRE(a.handshake());
  CHECK(a.client->ciphersuite() == kChaCha);
  DtlsOptions pref_chacha;
  pref_chacha.prefer_chacha = true;
  DtlsPair b(pki.creds(pki.client), pki.creds(pki.server), opts(SuiteOrder::aes_first), pref_chacha);
  REQUIRE(b.handshake());
  CHECK(b.client->ciphersuite() == kChaCha);
  DtlsPair c(pki.creds(pki.client), pki.creds(pki.server), opts(SuiteOrder::chacha_first),
             opts(SuiteOrder::aes_first));
  REQUIRE(c.handshake());
  CHECK(c.client->ciphersuite() == kAes);
}

TEST_CASE("a server left automatic follows the client's order (the client knows its CPU)", "[tls][session]") {
  auto& pki = TestPki::get();
  DtlsPair a(pki.creds(pki.client), pki.creds(pki.server), opts(SuiteOrder::chacha_first),
             opts(SuiteOrder::automatic));
  REQUIRE(a.handshake());
  CHECK(a.client->ciphersuite() == kChaCha);
  DtlsPair b(pki.creds(pki.client), pki.creds(pki.server), opts(SuiteOrder::aes_first),
             opts(SuiteOrder::automatic));
  REQUIRE(b.handshake());
  CHECK(b.client->ciphersuite() == kAes);
}

TEST_CASE("data_mtu limits application records", "[tls][session]") {
  auto& pki = TestPki::get();
  DtlsOptions o = opts(SuiteOrder::aes_only);
  o.data_mtu = 1400;
  DtlsPair p(pki.creds(pki.client), pki.creds(pki.server), o, o);
  REQUIRE(p.handshake());
  CHECK(p.client->max_plaintext() == 1400 - 37);
  Datagram too_big(1400 - 36, 1);
  auto r = p.client->write(too_big, p.now);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::invalid_argument);
  CHECK(p.client->established());  // refusing a write does not end the association
}

TEST_CASE("lost handshake datagrams are recovered by retransmission", "[tls][session]") {
  // Datagram numbers per direction (cookie exchange included):
  //   to_server: 0 ClientHello, 1 ClientHello+cookie, 2.. client's final flight
  //   to_client: 0 HelloVerifyRequest, 1.. server flight(s), last: CCS+Finished
  auto [what, dir, index] = GENERATE(std::make_tuple("first ClientHello", Dir::to_server, size_t(0)),
                                     std::make_tuple("HelloVerifyRequest", Dir::to_client, size_t(0)),
                                     std::make_tuple("cookie ClientHello", Dir::to_server, size_t(1)),
                                     std::make_tuple("server's first flight", Dir::to_client, size_t(1)),
                                     std::make_tuple("client's final flight", Dir::to_server, size_t(2)));
  INFO("dropped: " << what);
  DtlsPair p = good_pair();
  p.drop = [dir = dir, index = index](Dir d, size_t n, const Datagram&) { return d == dir && n == index; };
  REQUIRE(p.handshake());
  CHECK(p.now >= 1000);  // the first retransmission timer (hs_timeout_min_ms) had to fire
  CHECK(p.now < 16000);
}

TEST_CASE("lost final server flight: client retransmits, established server resends", "[tls][session]") {
  DtlsPair p = good_pair();
  // Lose the server's last datagram once: find it by content (CCS record at epoch 0 leads it).
  bool dropped = false;
  p.drop = [&](Dir d, size_t, const Datagram& dg) {
    if (d != Dir::to_client || dropped || dg.empty() || dg[0] != wire::kContentChangeCipherSpec) return false;
    dropped = true;
    return true;
  };
  REQUIRE(p.handshake());
  CHECK(dropped);
  CHECK(p.now >= 1000);
  // Data flows after the recovery.
  REQUIRE(p.client->write(bytes("after recovery"), p.now));
  p.pump();
  REQUIRE(p.server_rx.size() == 1);
}

TEST_CASE("handshake times out when the server never answers", "[tls][session]") {
  auto& pki = TestPki::get();
  DtlsOptions o;
  o.hs_timeout_min_ms = 100;
  o.hs_timeout_max_ms = 800;
  DtlsPair p(pki.creds(pki.client), pki.creds(pki.server), o, o);
  p.drop = [](Dir d, size_t, const Datagram&) { return d == Dir::to_client; };
  REQUIRE_FALSE(p.handshake());
  CHECK(p.client->handshake(p.now) == DtlsSession::Hs::failed);
  CHECK(p.client->last_error() == "handshake timeout");
  CHECK(p.now >= 100 + 200 + 400 + 800);
  CHECK(p.client->next_timeout() == UINT64_MAX);
}

TEST_CASE("duplicated and reordered application records", "[tls][session]") {
  DtlsPair p = good_pair();
  REQUIRE(p.handshake());
  auto recs = write_records(p, *p.client, p.to_server, 5, 100);
  for (int i : {0, 2, 1, 1, 4, 3, 0, 4}) p.deliver_to_server(recs[size_t(i)]);
  REQUIRE(p.server_rx.size() == 5);
  std::string order;
  for (auto& r : p.server_rx) order += char(r[0]);
  CHECK(order == "acbed");  // reordered within the window: all accepted, once each
  auto st = p.server->stats();
  CHECK(st.records_in == 5);
  CHECK(st.dropped_replay_or_auth == 3);
  CHECK(st.dropped_bad_mac == 0);
  CHECK(p.server_read_error.empty());
}

TEST_CASE("garbage datagrams are dropped without harming the association", "[tls][session]") {
  DtlsPair p = good_pair();
  REQUIRE(p.handshake());
  auto recs = write_records(p, *p.client, p.to_server, 2, 64);

  Datagram forged = recs[0];
  forged[forged.size() - 5] ^= 0x01;  // ciphertext/tag bit flip: fails authentication
  Datagram truncated(recs[0].begin(), recs[0].begin() + 20);
  Datagram wrong_epoch = recs[0];
  wrong_epoch[4] = 7;  // epoch 7: never negotiated
  SeededRng rng(99);
  std::vector<Datagram> junk = {forged, truncated, wrong_epoch, Datagram{0x17}, Datagram(13, 0)};
  for (int i = 0; i < 20; ++i) {
    Datagram d(size_t(1 + rng.u32() % 1500));
    rng.fill(d.data(), d.size());
    junk.push_back(d);
  }
  for (auto& d : junk) p.deliver_to_server(d);
  CHECK(p.server_rx.empty());
  CHECK(p.server_read_error.empty());
  CHECK(p.server->stats().dropped_bad_mac == 1);
  CHECK(p.server->stats().dropped_replay_or_auth >= 2);

  p.deliver_to_server(recs[0]);
  p.deliver_to_server(recs[1]);
  REQUIRE(p.server_rx.size() == 2);
  CHECK(p.server->established());
}

TEST_CASE("client certificate from another CA is refused by the server", "[tls][session][auth]") {
  auto& pki = TestPki::get();
  auto rogue = Credentials::from_pem(pki.ca.ca_pem(), pki.rogue_client.cert_pem, pki.rogue_client.key_pem);
  REQUIRE(rogue);
  DtlsPair p(*rogue, pki.creds(pki.server));
  REQUIRE_FALSE(p.handshake());
  REQUIRE(p.server);
  CHECK(p.server->handshake(p.now) == DtlsSession::Hs::failed);
  CHECK(p.server->last_error() == "certificate verify failed: not trusted by the CA");
  CHECK(p.client->handshake(p.now) == DtlsSession::Hs::failed);
  CHECK(p.client->last_error() == "peer sent alert: unknown_ca");
  uint8_t buf[64];
  auto r = p.server->read(buf, sizeof buf, p.now);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::auth);
}

TEST_CASE("server certificate from another CA is refused by the client", "[tls][session][auth]") {
  auto& pki = TestPki::get();
  auto rogue = Credentials::from_pem(pki.ca.ca_pem(), pki.rogue_server.cert_pem, pki.rogue_server.key_pem);
  REQUIRE(rogue);
  DtlsPair p(pki.creds(pki.client), *rogue);
  REQUIRE_FALSE(p.handshake());
  CHECK(p.client->last_error() == "certificate verify failed: not trusted by the CA");
  uint8_t buf[64];
  auto r = p.client->read(buf, sizeof buf, p.now);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::auth);
}

TEST_CASE("server name mismatch is refused by the client", "[tls][session][auth]") {
  DtlsPair p = good_pair();
  p.server_name = "other.example.org";
  REQUIRE_FALSE(p.handshake());
  CHECK(p.client->last_error() == "certificate verify failed: name mismatch (expected other.example.org)");
  CHECK(p.server->handshake(p.now) == DtlsSession::Hs::failed);
  CHECK(p.server->last_error().find("peer sent alert") == 0);
}

TEST_CASE("expired certificates are refused", "[tls][session][auth]") {
  auto& pki = TestPki::get();
  SECTION("expired server certificate, refused by the client") {
    DtlsPair p(pki.creds(pki.client), pki.creds(pki.expired_server));
    REQUIRE_FALSE(p.handshake());
    CHECK(p.client->last_error() == "certificate verify failed: certificate expired");
  }
  SECTION("expired client certificate, refused by the server") {
    DtlsPair p(pki.creds(pki.expired_client), pki.creds(pki.server));
    REQUIRE_FALSE(p.handshake());
    CHECK(p.server->last_error() == "certificate verify failed: certificate expired");
    CHECK(p.client->last_error() == "peer sent alert: certificate_expired");
  }
  SECTION("client certificate not yet valid") {
    DtlsPair p(pki.creds(pki.future_client), pki.creds(pki.server));
    REQUIRE_FALSE(p.handshake());
    CHECK(p.server->last_error() == "certificate verify failed: certificate not yet valid");
  }
}

TEST_CASE("close_notify ends the association on both sides", "[tls][session]") {
  DtlsPair p = good_pair();
  REQUIRE(p.handshake());
  p.client->close_notify(p.now);
  CHECK_FALSE(p.client->established());
  auto w = p.client->write(bytes("late"), p.now);
  REQUIRE_FALSE(w);
  CHECK(w.error().code == Errc::closed);
  p.pump();
  CHECK(p.server_read_error == "peer sent close_notify");
  uint8_t buf[16];
  auto r = p.server->read(buf, sizeof buf, p.now);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::closed);
}

TEST_CASE("session API misuse returns errors", "[tls][session]") {
  auto& pki = TestPki::get();
  DtlsPair p = good_pair();
  SECTION("client without a server name refuses to handshake") {
    DtlsSession s(p.client_cfg, push_datagram, &p.to_server);
    CHECK(s.handshake(0) == DtlsSession::Hs::failed);
    CHECK(s.last_error().find("set_hostname") != std::string::npos);
    CHECK(p.to_server.empty());
  }
  SECTION("role-specific setters") {
    DtlsSession c(p.client_cfg, push_datagram, &p.to_server);
    DtlsSession s(p.server_cfg, push_datagram, &p.to_client);
    uint8_t id[] = {1, 2, 3};
    CHECK_FALSE(c.set_client_id(id));
    CHECK_FALSE(s.set_hostname("x"));
    CHECK_FALSE(c.set_hostname(""));
  }
  SECTION("write before the handshake") {
    p.start();
    auto w = p.client->write(bytes("early"), p.now);
    REQUIRE_FALSE(w);
    CHECK(w.error().code == Errc::closed);
  }
  SECTION("Credentials reject a key that does not match the certificate") {
    auto c = Credentials::from_pem(pki.ca.ca_pem(), pki.server.cert_pem, pki.client.key_pem);
    REQUIRE_FALSE(c);
    CHECK(c.error().message == "key does not match the certificate");
  }
}

TEST_CASE("server session without CookieGuard answers HelloVerify itself", "[tls][session]") {
  DtlsPair p = good_pair();
  p.start();
  // Skip the guard: create the server session at once and feed it the cookieless ClientHello.
  p.server = std::make_unique<DtlsSession>(p.server_cfg, push_datagram, &p.to_client);
  REQUIRE(p.server->set_client_id(p.client_addr));
  p.pump();
  for (int i = 0; i < 10 && !(p.client->established() && p.server->established()); ++i) p.pump();
  CHECK(p.server->stats().hello_verify_sent == 1);
  CHECK(p.client->established());
  CHECK(p.server->established());
}

TEST_CASE("client restarting from the same address", "[tls][session]") {
  DtlsPair p = good_pair();
  REQUIRE(p.handshake());
  p.reroute_on_close = true;
  // A new client session from the same address: its cookieless ClientHello reaches the
  // established server session, which answers with a HelloVerifyRequest itself; the ClientHello
  // with a valid cookie then ends the old association (Errc::closed) and, rerouted through the
  // guard, starts a new one without waiting for a retransmission.
  p.start();
  REQUIRE(p.handshake());
  CHECK(p.server_read_error == "peer started a new handshake from the same address");
  CHECK(p.retired_servers == 1);
  CHECK(p.now == 0);
  CHECK(p.client->established());
  CHECK(p.server->established());
  REQUIRE(p.client->write(bytes("hello again"), p.now));
  p.pump();
  REQUIRE(p.server_rx.size() == 1);
}

TEST_CASE("feed copies, unconsumed and oversized input is counted", "[tls][session]") {
  DtlsPair p = good_pair();
  REQUIRE(p.handshake());
  auto recs = write_records(p, *p.client, p.to_server, 3, 1000);
  uint8_t buf[2048];
  {
    Datagram temp = recs[0];
    p.server->feed(temp, p.now);
  }  // freed before the session reads it
  CHECK(p.server->handshake(p.now) == DtlsSession::Hs::done);  // no-op once established
  auto r = p.server->read(buf, sizeof buf, p.now);
  REQUIRE(r);
  CHECK(*r == 1000);

  p.server->feed(recs[1], p.now);
  p.server->feed(recs[2], p.now);  // replaces recs[1], which was never read
  r = p.server->read(buf, sizeof buf, p.now);
  REQUIRE(r);
  CHECK(buf[0] == 'c');
  CHECK(p.server->stats().dropped_unconsumed == 1);

  auto more = write_records(p, *p.client, p.to_server, 2, 1000);
  p.server->feed(more[0], p.now);
  r = p.server->read(buf, 100, p.now);  // record longer than cap: dropped whole, not truncated
  REQUIRE(r);
  CHECK(*r == 0);
  CHECK(p.server->stats().dropped_oversize == 1);
  p.server->feed(more[1], p.now);
  r = p.server->read(buf, sizeof buf, p.now);
  REQUIRE(r);
  CHECK(*r == 1000);
  CHECK(p.server->stats().records_in == 3);
}
