// libFuzzer: a whole ClientSession against a real ServerEndpoint, seen from the client: what a
// server (or anyone on the path) hands the client is delivered as is, mutated, replayed, or
// replaced by arbitrary datagrams carrying the live session id, interleaved with time steps. The
// client must never crash, and must only reach `established` through a real handshake.
//
// Input: a sequence of ops, each one byte (op % 8) followed by its operands:
//   0 start       client.start()
//   1 c2s         deliver every queued client datagram to the server
//   2 s2c         deliver every queued server datagram to the client
//   3 raw  sel u16len bytes   a datagram to the client; sel&1: stamp the live session id
//   4 mutate u16pos u8xor     the oldest queued server datagram, one byte flipped, to the client
//   5 time u8     advance the clock by u8*50 ms and run due timers on both sides
//   6 send u8len bytes        server send_packet to the client's session, client send_packet
//   7 misc u8     replay the last server datagram / server close_session / close_all /
//                 client close, by x>>4
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "proto/client_session.hpp"
#include "proto/server_endpoint.hpp"
#include "proto/wire.hpp"
#include "tls/credentials.hpp"
#include "tls/dtls_config.hpp"
#include "tls/pki.hpp"

using namespace ptun;
using namespace ptun::proto;

namespace {

struct Creds {
  std::shared_ptr<tls::Credentials> server, client;
};

// Real certificates from ptun's own PKI code, made once per process in a temporary directory.
const Creds& creds() {
  static Creds c = [] {
    log::set_level(log::Level::error);
    char dir[] = "/tmp/ptun-fuzz-XXXXXX";
    if (!mkdtemp(dir)) abort();
    SeededRng rng(42);
    tls::pki::IssueOptions server_opts;
    server_opts.server = true;
    if (!tls::pki::init_ca(dir, "fuzz CA", rng) || !tls::pki::issue(dir, "vpn.example.org", server_opts, rng) ||
        !tls::pki::issue(dir, "alice", {}, rng))
      abort();
    std::string d(dir);
    Creds out;
    auto s = tls::Credentials::load(d + "/ca.crt", d + "/vpn.example.org.crt", d + "/vpn.example.org.key");
    auto cl = tls::Credentials::load(d + "/ca.crt", d + "/alice.crt", d + "/alice.key");
    if (!s || !cl) abort();
    out.server = *s;
    out.client = *cl;
    for (const char* f : {"ca.crt", "ca.key", "vpn.example.org.crt", "vpn.example.org.key", "alice.crt", "alice.key"})
      unlink((d + "/" + f).c_str());
    rmdir(dir);
    return out;
  }();
  return c;
}

const Endpoint kClientAddr = *Endpoint::parse("203.0.113.5:50000");
constexpr size_t kMaxQueue = 32;

struct Harness : ServerEndpoint::Callbacks, ClientSession::Callbacks {
  uint64_t now = 1'000'000;
  std::deque<std::vector<uint8_t>> c2s, s2c;
  std::vector<uint8_t> last_s2c;
  uint64_t established_id = 0;
  bool client_established = false;
  int server_established = 0;

  static void push(std::deque<std::vector<uint8_t>>& q, std::span<const uint8_t> d) {
    if (q.size() >= kMaxQueue) q.pop_front();
    q.emplace_back(d.begin(), d.end());
  }
  // ServerEndpoint::Callbacks
  void send_datagram(const Endpoint&, std::span<const uint8_t> d) override { push(s2c, d); }
  void deliver_packet(uint64_t, std::span<const uint8_t>) override {}
  Result<NetworkSettings> authorize(uint64_t, const std::string&, const ClientHello&, CloseReason*) override {
    NetworkSettings s;
    s.ipv4 = Cidr{IpAddr::v4(0x0a630002u), 24};
    s.server_ipv4 = IpAddr::v4(0x0a630001u);
    s.included_routes = {Cidr{IpAddr::v4(0u), 0}};
    s.dns_servers = {IpAddr::v4(0x0a630001u)};
    s.search_domains = {"corp.example"};
    return s;
  }
  void on_established(uint64_t id, const std::string&, const Endpoint&) override {
    established_id = id;
    ++server_established;
  }
  void on_roamed(uint64_t, const Endpoint&) override {}
  void on_closed(uint64_t, CloseReason) override {}
  // ClientSession::Callbacks
  void send_datagram(std::span<const uint8_t> d) override { push(c2s, d); }
  void deliver_packet(std::span<const uint8_t> ip) override {
    if (ip.empty()) __builtin_trap();
  }
  void on_established(const NetworkSettings&) override {
    // Only a real handshake with our server gets here: the server must have seen it too.
    if (server_established == 0) __builtin_trap();
    client_established = true;
  }
  void on_closed(CloseReason, const std::string&) override {}
};

struct Reader {
  const uint8_t* p;
  size_t n;
  bool empty() const { return n == 0; }
  uint8_t u8() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  uint16_t u16() { return uint16_t((u8() << 8) | u8()); }
  std::span<const uint8_t> bytes(size_t len) {
    len = std::min(len, n);
    std::span<const uint8_t> s(p, len);
    p += len;
    n -= len;
    return s;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Creds& c = creds();
  SeededRng server_rng(1), client_rng(2);
  auto sconf = tls::DtlsConfig::make_server(c.server, server_rng);
  auto cconf = tls::DtlsConfig::make_client(c.client, client_rng);
  if (!sconf || !cconf) abort();
  Harness h;
  ServerEndpoint::Limits limits;
  limits.max_sessions = 4;
  limits.per_source_hs_per_sec = 0;
  ServerEndpoint server(*sconf, static_cast<ServerEndpoint::Callbacks&>(h), limits);
  ClientParams params;
  params.handshake_timeout_ms = 5000;
  ClientSession client(*cconf, "vpn.example.org", "fuzz", client_rng, static_cast<ClientSession::Callbacks&>(h), params);

  Reader r{data, size};
  int handshakes = 0;
  while (!r.empty()) {
    switch (r.u8() % 8) {
      case 0:
        // Handshakes cost milliseconds of ECDSA: a few per input are enough.
        if (handshakes++ < 3) client.start(h.now);
        break;
      case 1:
        while (!h.c2s.empty()) {
          auto d = std::move(h.c2s.front());
          h.c2s.pop_front();
          server.on_datagram(kClientAddr, d, h.now);
        }
        break;
      case 2:
        while (!h.s2c.empty()) {
          h.last_s2c = std::move(h.s2c.front());
          h.s2c.pop_front();
          client.on_datagram(h.last_s2c, h.now);
        }
        break;
      case 3: {
        uint8_t sel = r.u8();
        auto body = r.bytes(r.u16());
        std::vector<uint8_t> d(body.begin(), body.end());
        if ((sel & 1) && d.size() >= kOuterHeaderSize && client.session_id())
          encode_outer_header(d.data(), client.session_id());
        client.on_datagram(d, h.now);
        break;
      }
      case 4: {
        uint16_t pos = r.u16();
        uint8_t x = r.u8();
        if (h.s2c.empty()) break;
        auto d = std::move(h.s2c.front());
        h.s2c.pop_front();
        if (!d.empty()) d[pos % d.size()] ^= x;
        client.on_datagram(d, h.now);
        break;
      }
      case 5:
        h.now += uint64_t(r.u8()) * 50;
        if (server.next_deadline() <= h.now) server.on_timer(h.now);
        if (client.next_deadline() <= h.now) client.on_timer(h.now);
        break;
      case 6: {
        auto body = r.bytes(r.u8());
        std::vector<uint8_t> pkt(body.begin(), body.end());
        if (pkt.empty()) pkt.push_back(0);
        pkt[0] = uint8_t(0x60 | (pkt[0] & 0x0f));
        if (h.established_id) (void)server.send_packet(h.established_id, pkt, h.now);
        (void)client.send_packet(pkt, h.now);
        break;
      }
      case 7: {
        uint8_t x = r.u8();
        switch (x >> 4) {
          case 0:
            if (!h.last_s2c.empty()) client.on_datagram(h.last_s2c, h.now);
            break;
          case 1: (void)server.close_session(h.established_id, CloseReason::kicked, h.now, "fuzz"); break;
          case 2: server.close_all(CloseReason::shutdown, h.now); break;
          case 3: client.close(CloseReason::shutdown, h.now); break;
          default: break;
        }
        break;
      }
    }
    if (client.state() == ClientSession::State::established && !h.client_established) __builtin_trap();
  }
  return 0;
}
