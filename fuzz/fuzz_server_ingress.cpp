// libFuzzer: a whole ServerEndpoint with real credentials, driven by a small op language so the
// fuzzer reaches every state: arbitrary datagrams from a few addresses, plus a real ClientSession
// whose datagrams (ClientHellos with fresh cookies, handshake flights, records) can be delivered,
// mutated, replayed from other addresses or interleaved with time steps.
//
// Input: a sequence of ops, each one byte (op % 8) followed by its operands:
//   0 start       client.start()
//   1 c2s         deliver every queued client datagram to the server (from the client's address)
//   2 s2c         deliver every queued server datagram to the client
//   3 raw  sel u16len bytes   a datagram from addr[sel&3]; sel&4: stamp the live session id
//   4 mutate sel u16pos u8xor the oldest queued client datagram, one byte flipped, from addr[sel&3]
//   5 time u8     advance the clock by u8*50 ms and run due timers on both sides
//   6 send u8len bytes        client send_packet (first nibble forced to 4) and server send_packet
//   7 misc u8     roam the client to addr[x&3] / replay the last client datagram from addr[(x>>2)&3]
//                 / close_session / close_all, by x>>4
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

const Endpoint kServerAddr = *Endpoint::parse("198.51.100.1:4433");
const Endpoint kAddrs[4] = {*Endpoint::parse("203.0.113.5:50000"), *Endpoint::parse("203.0.113.5:50001"),
                            *Endpoint::parse("192.0.2.7:40000"), *Endpoint::parse("[2001:db8::9]:50000")};
constexpr size_t kMaxQueue = 32;

struct Harness : ServerEndpoint::Callbacks, ClientSession::Callbacks {
  uint64_t now = 1'000'000;
  Endpoint client_addr = kAddrs[0];
  std::deque<std::vector<uint8_t>> c2s, s2c;
  std::vector<uint8_t> last_c2s;
  uint64_t established_id = 0;

  static void push(std::deque<std::vector<uint8_t>>& q, std::span<const uint8_t> d) {
    if (q.size() >= kMaxQueue) q.pop_front();
    q.emplace_back(d.begin(), d.end());
  }
  // ServerEndpoint::Callbacks
  void send_datagram(const Endpoint& to, std::span<const uint8_t> d) override {
    if (to == client_addr) push(s2c, d);
  }
  void deliver_packet(uint64_t, std::span<const uint8_t> ip) override {
    if (ip.empty() || ((ip[0] >> 4) != 4 && (ip[0] >> 4) != 6)) __builtin_trap();
  }
  Result<NetworkSettings> authorize(uint64_t id, const std::string& cn, const ClientHello&, CloseReason* why) override {
    if (cn != "alice") __builtin_trap();  // only certificates of our CA get this far
    if (id & 1) {
      *why = CloseReason::no_address;
      return Error(Errc::limit, "pool exhausted");
    }
    NetworkSettings s;
    s.ipv4 = Cidr{IpAddr::v4(0x0a630002u), 24};
    s.included_routes = {Cidr{IpAddr::v4(0u), 0}};
    return s;
  }
  void on_established(uint64_t id, const std::string&, const Endpoint&) override { established_id = id; }
  void on_roamed(uint64_t, const Endpoint&) override {}
  void on_closed(uint64_t, CloseReason) override {}
  // ClientSession::Callbacks
  void send_datagram(std::span<const uint8_t> d) override { push(c2s, d); }
  void deliver_packet(std::span<const uint8_t>) override {}
  void on_established(const NetworkSettings&) override {}
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
  // Fresh, seeded configs per input: runs are reproducible (cookies also carry wall-clock time).
  SeededRng server_rng(1), client_rng(2);
  auto sconf = tls::DtlsConfig::make_server(c.server, server_rng);
  auto cconf = tls::DtlsConfig::make_client(c.client, client_rng);
  if (!sconf || !cconf) abort();
  Harness h;
  ServerEndpoint::Limits limits;
  limits.max_sessions = 4;
  limits.max_half_open = 2;
  limits.handshake_timeout_ms = 3000;
  limits.per_source_hs_per_sec = 3;
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
        if (handshakes++ < 3 && client.state() != ClientSession::State::handshaking) client.start(h.now);
        break;
      case 1:
        while (!h.c2s.empty()) {
          h.last_c2s = std::move(h.c2s.front());
          h.c2s.pop_front();
          server.on_datagram(h.client_addr, h.last_c2s, h.now);
        }
        break;
      case 2:
        while (!h.s2c.empty()) {
          auto d = std::move(h.s2c.front());
          h.s2c.pop_front();
          client.on_datagram(d, h.now);
        }
        break;
      case 3: {
        uint8_t sel = r.u8();
        uint16_t len = r.u16();
        auto body = r.bytes(len);
        std::vector<uint8_t> d(body.begin(), body.end());
        if ((sel & 4) && d.size() >= kOuterHeaderSize && client.session_id())
          encode_outer_header(d.data(), client.session_id());
        server.on_datagram(kAddrs[sel & 3], d, h.now);
        break;
      }
      case 4: {
        uint8_t sel = r.u8();
        uint16_t pos = r.u16();
        uint8_t x = r.u8();
        if (h.c2s.empty()) break;
        auto d = std::move(h.c2s.front());
        h.c2s.pop_front();
        if (!d.empty()) d[pos % d.size()] ^= x;
        server.on_datagram(kAddrs[sel & 3], d, h.now);
        break;
      }
      case 5: {
        h.now += uint64_t(r.u8()) * 50;
        if (server.next_deadline() <= h.now) server.on_timer(h.now);
        if (client.next_deadline() <= h.now) client.on_timer(h.now);
        break;
      }
      case 6: {
        auto body = r.bytes(r.u8());
        std::vector<uint8_t> pkt(body.begin(), body.end());
        if (pkt.empty()) pkt.push_back(0);
        pkt[0] = uint8_t(0x40 | (pkt[0] & 0x0f));
        (void)client.send_packet(pkt, h.now);
        if (h.established_id) (void)server.send_packet(h.established_id, pkt, h.now);
        break;
      }
      case 7: {
        uint8_t x = r.u8();
        switch (x >> 4) {
          case 0: h.client_addr = kAddrs[x & 3]; break;
          case 1:
            if (!h.last_c2s.empty()) server.on_datagram(kAddrs[(x >> 2) & 3], h.last_c2s, h.now);
            break;
          case 2: (void)server.close_session(h.established_id, CloseReason::kicked, h.now, "fuzz"); break;
          case 3: server.close_all(CloseReason::shutdown, h.now); break;
          default: break;
        }
        break;
      }
    }
    // Invariants that must hold after every step.
    if (server.session_count() > limits.max_sessions || server.half_open_count() > limits.max_half_open ||
        server.half_open_count() > server.session_count())
      __builtin_trap();
  }
  return 0;
}
