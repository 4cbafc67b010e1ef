// libFuzzer: a whole ClientSession seen from a hostile server (or anyone holding its keys), from
// the state right after the DTLS handshake (restored from session_fixture.hpp's snapshot, so an
// input costs microseconds, not an ECDSA handshake): CLIENT_HELLO sent, waiting for SETTINGS. The
// fuzzer holds the server's keys (fuzz::Peer): the input's bytes become authentic records
// (SETTINGS parts, PING/PONG/CLOSE, unknown types, IP packets; alerts and handshake messages inside
// the session) that the client opens through mbedTLS or its fast path, mixed with forged, mutated
// and replayed datagrams and time steps.
//
// Input: a sequence of ops, each one byte (op % 8) followed by its operands:
//   0 rec sel u16len bytes  the bytes sealed as one record by the server; sel&1: opened in place
//                           (fast path), sel&2: two records in one datagram, sel>>4&3: content
//                           type application data / alert / handshake / CCS; sel&0x40: the bytes
//                           are one byte repeated u16len times (Reader::body)
//   1 settings sel         a valid SETTINGS for the session (parts of sel*8+64 bytes at most)
//   2 c2s                  the server reads the client's datagrams and answers each PING with PONG
//   3 raw sel u16len bytes  a datagram to the client; sel&1: stamp the live session id; sel&0x40:
//                           one byte repeated
//   4 mutate u16pos u8xor  the last sealed datagram, one byte flipped
//   5 time u8              advance the clock by u8*50 ms and run the client's due timers
//   6 send u8len bytes     client send_packet (first nibble forced to 6)
//   7 misc u8              replay the last sealed datagram / client close / the server's
//                          close_notify / on_path_changed / an unknown-session hint, by x>>4
#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <vector>

#include "proto/client_session.hpp"
#include "proto/messages.hpp"
#include "session_fixture.hpp"

using namespace ptun;
using namespace ptun::proto;
using ptun::fuzz::Reader;

namespace {

constexpr size_t kMaxQueue = 32;

// One for the process, reset per input: its buffers keep their capacity across inputs.
struct Harness : ClientSession::Callbacks {
  uint64_t now = 0;
  fuzz::DatagramRing<kMaxQueue> c2s;
  std::vector<uint8_t> sealed;   // the server's records, behind one outer header
  std::vector<uint8_t> last;     // the last sealed datagram (outer header included)
  std::vector<uint8_t> scratch;  // a datagram or packet being built
  std::vector<uint8_t> fill;     // a repeated-byte body (Reader::body)
  std::vector<Ping> pings;
  bool established = false;
  fuzz::Trace trace;

  void reset() {
    trace.begin();
    now = 1'000'000;
    c2s.clear();
    last.clear();
    established = false;
  }
  void send_datagram(std::span<const uint8_t> d) override {
    trace.add(d);  // every byte: fuzz builds have the same keys in every process (session_fixture.hpp)
    c2s.push(d);
  }
  void deliver_packet(std::span<const uint8_t> ip) override {
    trace.add(ip);
    if (ip.empty() || ((ip[0] >> 4) != 4 && (ip[0] >> 4) != 6)) __builtin_trap();
  }
  void on_established(const NetworkSettings& s) override {
    if (!s.ipv4 && !s.ipv6) __builtin_trap();  // the client must refuse SETTINGS without an address
    established = true;
    trace.add(1);
  }
  void on_closed(CloseReason why, const std::string&) override { trace.add(100 + uint64_t(why)); }
};

constexpr uint8_t kTypes[4] = {23, 21, 22, 20};  // application data, alert, handshake, CCS

void begin_datagram(Harness& h, const ClientSession& c) {
  h.sealed.assign(kOuterHeaderSize, 0);
  encode_outer_header(h.sealed.data(), c.session_id());
}

void send_sealed(Harness& h, ClientSession& client, bool in_place) {
  if (h.sealed.size() <= kOuterHeaderSize) return;
  h.last = h.sealed;
  if (in_place)
    client.on_datagram_in_place(h.sealed, h.now);
  else
    client.on_datagram(h.sealed, h.now);
}

// The SETTINGS parts for one sel, encoded once: the encoder is the server's, not under test here,
// and was a tenth of an input's time. The session id is the same in every input (SeededRng(3)).
const std::vector<std::vector<uint8_t>>* settings_parts(uint8_t sel, uint64_t session_id) {
  struct Entry {
    bool done = false;
    uint64_t id = 0;
    std::optional<std::vector<std::vector<uint8_t>>> parts;
  };
  static std::array<Entry, 256> cache;
  Entry& e = cache[sel];
  if (!e.done || e.id != session_id) {
    NetworkSettings s;
    s.ipv4 = Cidr{IpAddr::v4(0x0a630002u), 24};
    s.server_ipv4 = IpAddr::v4(0x0a630001u);
    s.included_routes = {Cidr{IpAddr::v4(0u), 1}, Cidr{IpAddr::v4(0x80000000u), 1}};
    s.dns_servers = {IpAddr::v4(0x0a630001u)};
    s.search_domains = {"corp.example"};
    s.keepalive_secs = sel & 3;
    s.dead_peer_secs = (sel >> 2) & 7;
    auto parts = encode_settings(s, session_id, size_t(sel) * 8 + 64);
    e.parts.reset();
    if (parts) e.parts = std::move(*parts);
    e.done = true;
    e.id = session_id;
  }
  return e.parts ? &*e.parts : nullptr;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& fx = fuzz::session_fixture();
  static Harness h;
  h.reset();
  SeededRng rng(3);
  ClientParams params;
  params.handshake_timeout_ms = 5000;
  ClientSession client(fx.client_conf, "vpn.example.org", "fuzz", rng, h, params);
  client.start_from_snapshot(fx.client, h.now);
  if (client.state() != ClientSession::State::waiting_settings) abort();
  fuzz::Peer server(fx.server);

  Reader r{data, size};
  while (!r.empty()) {
    switch (r.u8() % 8) {
      case 0: {
        uint8_t sel = r.u8();
        auto body = r.body(sel & 0x40, h.fill);
        begin_datagram(h, client);
        server.seal(h.sealed, body, kTypes[(sel >> 4) & 3], sel & 0x40);
        if (sel & 2) server.seal(h.sealed, body.subspan(body.size() / 2), 23, sel & 0x40);
        send_sealed(h, client, sel & 1);
        break;
      }
      case 1: {
        const auto* parts = settings_parts(r.u8(), client.session_id());
        if (!parts) break;
        for (auto& p : *parts) {
          begin_datagram(h, client);
          server.seal(h.sealed, p);
          send_sealed(h, client, false);
        }
        break;
      }
      case 2: {
        h.pings.clear();
        for (int i = 0; i < int(kMaxQueue) && !h.c2s.empty(); ++i) {
          const auto& d = h.c2s.front();
          if (d.size() > kOuterHeaderSize) h.scratch.assign(d.begin() + kOuterHeaderSize, d.end());
          bool whole = d.size() > kOuterHeaderSize;
          h.c2s.pop();
          if (!whole) continue;
          server.open(h.scratch, [&](std::span<const uint8_t> rec) {
            if (auto ping = decode_ping(rec); ping && control_type(rec) == uint8_t(MsgType::ping)) h.pings.push_back(*ping);
          });
        }
        for (const Ping& ping : h.pings) {
          uint8_t pong[kPingSize];
          begin_datagram(h, client);
          server.seal(h.sealed, {pong, encode_pong(ping, pong)});
          send_sealed(h, client, false);
        }
        break;
      }
      case 3: {
        uint8_t sel = r.u8();
        auto body = r.body(sel & 0x40, h.fill);
        std::vector<uint8_t>& d = h.scratch;
        d.assign(body.begin(), body.end());
        if ((sel & 1) && d.size() >= kOuterHeaderSize) encode_outer_header(d.data(), client.session_id());
        client.on_datagram(d, h.now);
        break;
      }
      case 4: {
        uint16_t pos = r.u16();
        uint8_t x = r.u8();
        if (h.last.empty()) break;
        std::vector<uint8_t>& d = h.scratch;
        d = h.last;
        d[pos % d.size()] ^= x;
        client.on_datagram_in_place(d, h.now);
        break;
      }
      case 5:
        h.now += uint64_t(r.u8()) * 50;
        if (client.next_deadline() <= h.now) client.on_timer(h.now);
        break;
      case 6: {
        auto body = r.bytes(r.u8());
        std::vector<uint8_t>& pkt = h.scratch;
        pkt.assign(body.begin(), body.end());
        if (pkt.empty()) pkt.push_back(0);
        pkt[0] = uint8_t(0x60 | (pkt[0] & 0x0f));
        (void)client.send_packet(pkt, h.now);
        break;
      }
      case 7: {
        uint8_t x = r.u8();
        switch (x >> 4) {
          case 0:
            if (!h.last.empty()) client.on_datagram(h.last, h.now);
            break;
          case 1: client.close(CloseReason::shutdown, h.now); break;
          case 2: {
            const uint8_t close_notify[2] = {1, 0};  // warning, close_notify
            begin_datagram(h, client);
            server.seal(h.sealed, close_notify, 21);
            send_sealed(h, client, false);
            break;
          }
          case 3: client.on_path_changed(h.now); break;
          case 4: {
            uint8_t d[kOuterHeaderSize + 1] = {};
            encode_outer_header(d, client.session_id(), Kind::unknown_session);
            client.on_datagram(d, h.now);
            break;
          }
          default: break;
        }
        break;
      }
    }
    if (client.state() == ClientSession::State::established && !h.established) __builtin_trap();
  }
  h.trace.add(uint64_t(client.state()));
  h.trace.end();
  return 0;
}
