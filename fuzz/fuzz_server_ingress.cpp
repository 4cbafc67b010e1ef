// libFuzzer: a whole ServerEndpoint seen from the network, from the state an attacker reaches most
// cheaply: one session whose DTLS handshake is done (restored from session_fixture.hpp's snapshot,
// so an input costs microseconds, not an ECDSA handshake), plus the stateless pre-handshake path
// for every other datagram. The fuzzer holds the client's keys (fuzz::Peer): the input's bytes
// become authentic records (CLIENT_HELLO, PING/PONG/CLOSE, unknown types, IP packets; alerts and
// handshake messages inside the session) that the server opens through mbedTLS or its fast path,
// from the client's or other addresses.
//
// Input: a sequence of ops, each one byte (op % 8) followed by its operands:
//   0 rec sel u16len bytes  the bytes sealed as one record by the client, sent from addr[sel&3];
//                           sel&4: opened in place (fast path), sel&8: two records in one datagram,
//                           sel>>4&3: content type application data / alert / handshake / CCS;
//                           sel&0x40: the bytes are one byte repeated u16len times (Reader::body)
//   1 hello sel            a valid CLIENT_HELLO record (want_ipv4/6 = sel bits) from addr[sel>>2&3]
//   2 s2c sel              the client reads the server's datagrams and answers each PING with its
//                          PONG from addr[sel&3] (a roam's return-routability check)
//   3 raw sel u16len bytes  a datagram from addr[sel&3]; sel&4: stamp the live session id;
//                           sel&0x40: one byte repeated
//   4 mutate sel u16pos u8xor  the last sealed datagram, one byte flipped, from addr[sel&3]
//   5 time u8              advance the clock by u8*50 ms and run the server's due timers
//   6 send sel u8len bytes  server send_packet (first nibble forced to 4/6); sel&1: in place
//   7 misc u8              replay the last sealed datagram from addr[x&3] / close_session /
//                          close_all / the client's close_notify from addr[x&3], by x>>4
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "session_fixture.hpp"
#include "proto/messages.hpp"
#include "proto/server_endpoint.hpp"

using namespace ptun;
using namespace ptun::proto;
using ptun::fuzz::Reader;

namespace {

const Endpoint kAddrs[4] = {fuzz::kClientAddr, *Endpoint::parse("203.0.113.5:50001"),
                            *Endpoint::parse("192.0.2.7:40000"), *Endpoint::parse("[2001:db8::9]:50000")};
constexpr uint64_t kSessionId = 0x00a1b2c3d4e5f601ull;
constexpr size_t kMaxQueue = 32;

// One for the process, reset per input: its buffers keep their capacity across inputs.
struct Harness : ServerEndpoint::Callbacks {
  uint64_t now = 0;
  fuzz::DatagramRing<kMaxQueue> s2c;  // server -> the client's current address
  std::vector<uint8_t> sealed;        // the client's records, behind one outer header
  std::vector<uint8_t> last;          // the last sealed datagram (outer header included)
  std::vector<uint8_t> scratch;       // a datagram or packet being built
  std::vector<uint8_t> fill;          // a repeated-byte body (Reader::body)
  std::vector<Ping> pings;
  fuzz::Trace trace;

  void reset() {
    trace.begin();
    now = 1'000'000;
    s2c.clear();
    last.clear();
  }
  void send_datagram(const Endpoint& to, std::span<const uint8_t> d) override {
    trace.add(EndpointHash{}(to));
    trace.add(d);  // every byte: fuzz builds have the same keys in every process (session_fixture.hpp)
    s2c.push(d);
  }
  void deliver_packet(uint64_t, std::span<const uint8_t> ip) override {
    trace.add(ip);
    if (ip.empty() || ((ip[0] >> 4) != 4 && (ip[0] >> 4) != 6)) __builtin_trap();
  }
  Result<NetworkSettings> authorize(uint64_t, const std::string& cn, const ClientHello& hello, CloseReason*) override {
    if (cn != "alice") __builtin_trap();  // the snapshot's certificate
    NetworkSettings s;
    if (hello.want_ipv4) s.ipv4 = Cidr{IpAddr::v4(0x0a630002u), 24};
    s.included_routes = {Cidr{IpAddr::v4(0u), 0}};
    s.search_domains = {"corp.example"};
    return s;
  }
  void on_established(uint64_t id, const std::string&, const Endpoint&) override { trace.add(id); }
  void on_roamed(uint64_t id, const Endpoint& to) override { trace.add(id ^ EndpointHash{}(to)); }
  void on_closed(uint64_t id, CloseReason why, const SessionStats&) override { trace.add(id + uint64_t(why)); }
};

constexpr uint8_t kTypes[4] = {23, 21, 22, 20};  // application data, alert, handshake, CCS

// The four valid CLIENT_HELLOs (want_ipv4 = bit 0, want_ipv6 = bit 1), encoded once per process
// instead of once per op (2% of an input: the harness's own constant bytes, not code under test).
const std::vector<uint8_t>& hello(int i) {
  static const auto all = [] {
    std::array<std::vector<uint8_t>, 4> a;
    for (int j = 0; j < 4; ++j) {
      ClientHello hello;
      hello.software_version = "fuzz";
      hello.want_ipv4 = j & 1;
      hello.want_ipv6 = j & 2;
      uint8_t buf[128];
      auto n = encode_client_hello(hello, buf);
      if (!n) abort();
      a[j].assign(buf, buf + *n);
    }
    return a;
  }();
  return all[i & 3];
}

void begin_datagram(Harness& h) {
  h.sealed.assign(kOuterHeaderSize, 0);
  encode_outer_header(h.sealed.data(), kSessionId);
}

void send_sealed(Harness& h, ServerEndpoint& server, const Endpoint& from, bool in_place) {
  if (h.sealed.size() <= kOuterHeaderSize) return;
  h.last = h.sealed;
  if (in_place)
    server.on_datagram_in_place(from, h.sealed, h.now);
  else
    server.on_datagram(from, h.sealed, h.now);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& fx = fuzz::session_fixture();
  static Harness h;
  h.reset();
  static const ServerEndpoint::Limits limits = [] {
    ServerEndpoint::Limits l;
    l.max_sessions = 4;
    l.max_half_open = 2;
    l.handshake_timeout_ms = 3000;
    l.per_source_hs_per_sec = 3;
    return l;
  }();
  // One endpoint for the process, reset() after each input to the state a new one has (its
  // buffers and the session's mbedTLS objects are reused: constructing both was a third of a short
  // input's time). Reset at the end, not the start: what an input allocates it also frees, else
  // libFuzzer suspects a leak and runs the input again. PTUN_FUZZ_NO_REUSE=1: a new endpoint per
  // input, to check that reuse changes nothing (FUZZ_TRACE).
  static const bool fresh = getenv("PTUN_FUZZ_NO_REUSE") != nullptr;
  static std::unique_ptr<ServerEndpoint> endpoint;
  if (!endpoint) endpoint = std::make_unique<ServerEndpoint>(fx.server_conf, h, limits);
  ServerEndpoint& server = *endpoint;
  if (!server.adopt_snapshot(kAddrs[0], kSessionId, fx.server, h.now)) abort();
  fuzz::Peer client(fx.client);

  Reader r{data, size};
  while (!r.empty()) {
    switch (r.u8() % 8) {
      case 0: {
        uint8_t sel = r.u8();
        auto body = r.body(sel & 0x40, h.fill);
        begin_datagram(h);
        client.seal(h.sealed, body, kTypes[(sel >> 4) & 3], sel & 0x40);
        if (sel & 8) client.seal(h.sealed, body.subspan(body.size() / 2), 23, sel & 0x40);
        send_sealed(h, server, kAddrs[sel & 3], sel & 4);
        break;
      }
      case 1: {
        uint8_t sel = r.u8();
        begin_datagram(h);
        client.seal(h.sealed, hello(sel));
        send_sealed(h, server, kAddrs[(sel >> 2) & 3], false);
        break;
      }
      case 2: {
        const Endpoint& from = kAddrs[r.u8() & 3];
        h.pings.clear();
        for (int i = 0; i < int(kMaxQueue) && !h.s2c.empty(); ++i) {
          const auto& d = h.s2c.front();
          bool whole = d.size() > kOuterHeaderSize;
          if (whole) h.scratch.assign(d.begin() + kOuterHeaderSize, d.end());
          h.s2c.pop();
          if (!whole) continue;
          client.open(h.scratch, [&](std::span<const uint8_t> rec) {
            if (auto ping = decode_ping(rec); ping && control_type(rec) == uint8_t(MsgType::ping)) h.pings.push_back(*ping);
          });
        }
        for (const Ping& ping : h.pings) {
          uint8_t pong[kPingSize];
          begin_datagram(h);
          client.seal(h.sealed, {pong, encode_pong(ping, pong)});
          send_sealed(h, server, from, false);
        }
        break;
      }
      case 3: {
        uint8_t sel = r.u8();
        auto body = r.body(sel & 0x40, h.fill);
        std::vector<uint8_t>& d = h.scratch;
        d.assign(body.begin(), body.end());
        if ((sel & 4) && d.size() >= kOuterHeaderSize) encode_outer_header(d.data(), kSessionId);
        server.on_datagram(kAddrs[sel & 3], d, h.now);
        break;
      }
      case 4: {
        uint8_t sel = r.u8();
        uint16_t pos = r.u16();
        uint8_t x = r.u8();
        if (h.last.empty()) break;
        std::vector<uint8_t>& d = h.scratch;
        d = h.last;
        d[pos % d.size()] ^= x;
        server.on_datagram_in_place(kAddrs[sel & 3], d, h.now);
        break;
      }
      case 5:
        h.now += uint64_t(r.u8()) * 50;
        if (server.next_deadline() <= h.now) server.on_timer(h.now);
        break;
      case 6: {
        uint8_t sel = r.u8();
        auto body = r.bytes(r.u8());
        // Room for the outer header and the record's expansion in front and behind.
        std::vector<uint8_t>& buf = h.scratch;
        buf.assign(64 + std::max<size_t>(body.size(), 1) + 32, 0);
        std::span<uint8_t> pkt(buf.data() + 64, std::max<size_t>(body.size(), 1));
        std::copy(body.begin(), body.end(), pkt.begin());
        pkt[0] = uint8_t(((sel & 2) ? 0x60 : 0x40) | (pkt[0] & 0x0f));
        if (sel & 1)
          (void)server.send_packet_in_place(kSessionId, pkt, 64, 32, h.now);
        else
          (void)server.send_packet(kSessionId, pkt, h.now);
        break;
      }
      case 7: {
        uint8_t x = r.u8();
        switch (x >> 4) {
          case 0:
            if (!h.last.empty()) server.on_datagram(kAddrs[x & 3], h.last, h.now);
            break;
          case 1: (void)server.close_session(kSessionId, CloseReason::kicked, h.now, "fuzz"); break;
          case 2: server.close_all(CloseReason::shutdown, h.now); break;
          case 3: {
            const uint8_t close_notify[2] = {1, 0};  // warning, close_notify
            begin_datagram(h);
            client.seal(h.sealed, close_notify, 21);
            send_sealed(h, server, kAddrs[x & 3], false);
            break;
          }
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
  h.trace.add(server.session_count());
  h.trace.end();
  if (fresh)
    endpoint.reset();
  else
    server.reset();
  return 0;
}
