// ptun-load flood: hostile input against a running server, bounded in count and time. Each kind
// of input leaves from its own socket so that whatever the server sends back can be attributed:
//
//   garbage   random datagrams: random bytes, valid-looking outer headers with random session ids,
//             unknown versions/kinds, session id 0
//   hello     ClientHellos of fresh sessions that never answer the cookie (HelloVerifyRequest):
//             the server must never send more bytes than it received (no amplification)
//   halfopen  ClientHellos that answer the cookie and then go silent: cookie-verified half-open
//             handshakes that the server must bound (max_half_open, per-source rate) and expire
//   replay    every datagram of a real session (handshake and data), replayed from the same and
//             from another socket: DTLS replay protection and roaming rules must drop them
//
// usage: ptun-load flood --pki DIR --server IP:PORT --server-name NAME [--count N] [--secs S]
//        [--rounds-per-sec R] [--bind IP]     (one round = one datagram of each kind)
// Prints one JSON line with per-kind tx/rx datagrams and bytes, the largest reply and the
// smallest request of the unverified kinds.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "load.hpp"
#include "common/log.hpp"
#include "proto/client_session.hpp"
#include "proto/wire.hpp"
#include "tls/credentials.hpp"
#include "tls/dtls_config.hpp"
#include "tls/pki.hpp"

namespace ptun::load {
namespace {

struct Kind {
  const char* name;
  Sockets socks;
  uint64_t min_tx = UINT64_MAX, max_rx = 0;
};

// A ClientSession whose datagrams go to one socket (and are optionally recorded for replay).
struct FloodClient final : proto::ClientSession::Callbacks {
  Kind* kind;
  std::vector<std::vector<uint8_t>>* record = nullptr;
  bool up = false;
  explicit FloodClient(Kind* k) : kind(k) {}
  void send_datagram(std::span<const uint8_t> d) override {
    kind->min_tx = std::min<uint64_t>(kind->min_tx, d.size());
    kind->socks.send(0, d);
    if (record) record->emplace_back(d.begin(), d.end());
  }
  void deliver_packet(std::span<const uint8_t>) override {}
  void on_established(const proto::NetworkSettings&) override { up = true; }
  void on_closed(proto::CloseReason, const std::string&) override { up = false; }
};

std::shared_ptr<tls::DtlsConfig> client_config(const std::string& dir, const std::string& name, Rng& rng) {
  struct stat st;
  if (::stat((dir + "/" + name + ".crt").c_str(), &st) != 0 && !tls::pki::issue(dir, name, {}, rng)) return nullptr;
  auto creds = tls::Credentials::load(dir + "/ca.crt", dir + "/" + name + ".crt", dir + "/" + name + ".key");
  if (!creds) return nullptr;
  auto conf = tls::DtlsConfig::make_client(*creds, rng);
  return conf ? *conf : nullptr;
}

}  // namespace

int run_flood(int argc, char** argv) {
  std::map<std::string, std::string> kv;
  for (int i = 2; i + 1 < argc; i += 2) kv[argv[i]] = argv[i + 1];
  auto server = Endpoint::parse(kv["--server"]);
  std::string dir = kv["--pki"], server_name = kv["--server-name"];
  if (!server || dir.empty() || server_name.empty()) {
    std::fprintf(stderr, "usage: ptun-load flood --pki DIR --server IP:PORT --server-name NAME [--count N] [--secs S]\n");
    return 2;
  }
  long count = kv.count("--count") ? std::strtol(kv["--count"].c_str(), nullptr, 10) : 20000;
  long secs = kv.count("--secs") ? std::strtol(kv["--secs"].c_str(), nullptr, 10) : 20;
  long rate = kv.count("--rounds-per-sec") ? std::strtol(kv["--rounds-per-sec"].c_str(), nullptr, 10) : 5000;
  if (rate <= 0) rate = 5000;
  auto bind = IpAddr::parse(kv.count("--bind") ? kv["--bind"] : (server->addr.is_v4() ? "0.0.0.0" : "::"));
  log::set_level(log::Level::error);
  SystemRng rng;

  Kind kinds[5] = {{"garbage", {}}, {"hello", {}}, {"halfopen", {}}, {"replay_same", {}}, {"replay_other", {}}};
  for (auto& k : kinds)
    if (!bind || !k.socks.open(*server, *bind, 1)) {
      std::perror("ptun-load flood: socket");
      return 1;
    }
  Kind &garbage = kinds[0], &hello = kinds[1], &halfopen = kinds[2], &replay_same = kinds[3], &replay_other = kinds[4];
  auto conf = client_config(dir, "flood-replay", rng);
  auto conf_bogus = client_config(dir, "flood-bogus", rng);
  if (!conf || !conf_bogus) {
    std::fprintf(stderr, "ptun-load flood: cannot make client credentials in %s\n", dir.c_str());
    return 1;
  }
  auto track_rx = [](Kind& k) {
    return [&k](int, std::span<const uint8_t> d) { k.max_rx = std::max<uint64_t>(k.max_rx, d.size()); };
  };

  // 1. A real session whose every datagram is recorded, with some data, for the replays.
  std::vector<std::vector<uint8_t>> recorded;
  FloodClient real(&replay_same);
  real.record = &recorded;
  proto::ClientSession rs(conf, server_name, "ptun-load", rng, real);
  uint64_t t0 = now_ms(), end = t0 + uint64_t(secs) * 1000;
  rs.start(now_ms());
  while (!real.up && now_ms() < t0 + 10000) {
    replay_same.socks.poll_rx(10, [&](int, std::span<const uint8_t> d) { rs.on_datagram(d, now_ms()); });
    if (rs.next_deadline() <= now_ms()) rs.on_timer(now_ms());
  }
  if (!real.up) {
    std::fprintf(stderr, "ptun-load flood: the recorded session did not come up\n");
    return 1;
  }
  for (int i = 0; i < 20; ++i) {
    uint8_t pkt[60] = {0x45};
    (void)rs.send_packet(pkt, now_ms());
  }
  rs.close(proto::CloseReason::shutdown, now_ms());
  replay_same.socks.tx_bytes = replay_same.socks.tx_datagrams = 0;  // count the replays only
  replay_same.min_tx = UINT64_MAX;

  // 2. The flood, interleaved, until `count` per kind or `secs`.
  std::vector<std::unique_ptr<FloodClient>> bogus_cbs;
  std::vector<std::unique_ptr<proto::ClientSession>> bogus;
  proto::ClientParams quick;
  quick.handshake_timeout_ms = 2000;
  std::vector<uint8_t> g(1500);
  long sent = 0;
  uint64_t flood_t0 = now_ms();
  for (; sent < count && now_ms() < end; ++sent) {
    // Paced, so that the flood overlaps the traffic it is meant to disturb.
    while (uint64_t(sent) * 1000 > (now_ms() - flood_t0) * uint64_t(rate)) ::usleep(1000);
    // garbage
    size_t len = 1 + rng.u32() % 1400;
    rng.fill(g.data(), len);
    switch (sent % 4) {
      case 0: if (len >= 9) proto::encode_outer_header(g.data(), 1 + (rng.u32() & 0xffffff)); break;
      case 1: g[0] = uint8_t(2 + rng.u32() % 250); break;
      case 2: if (len >= 9) { proto::encode_outer_header(g.data(), 1); std::memset(g.data() + 2, 0, 6); } break;
      default: break;
    }
    garbage.min_tx = std::min<uint64_t>(garbage.min_tx, len);
    garbage.socks.send(0, {g.data(), len});
    // replays: from the recording socket and from another one
    const auto& r = recorded[size_t(sent) % recorded.size()];
    replay_same.min_tx = std::min<uint64_t>(replay_same.min_tx, r.size());
    replay_same.socks.send(0, r);
    replay_other.min_tx = std::min<uint64_t>(replay_other.min_tx, r.size());
    replay_other.socks.send(0, r);
    // bogus handshakes: a fresh ClientHello every 4th round; half-open ones every 8th
    if (sent % 4 == 0) {
      bool answer = sent % 8 == 0;
      bogus_cbs.push_back(std::make_unique<FloodClient>(answer ? &halfopen : &hello));
      bogus.push_back(std::make_unique<proto::ClientSession>(conf_bogus, server_name, "ptun-load", rng,
                                                            *bogus_cbs.back(), quick));
      bogus.back()->start(now_ms());
      if (bogus.size() > 256) {  // bounded memory on our side too
        bogus.erase(bogus.begin());
        bogus_cbs.erase(bogus_cbs.begin());
      }
    }
    if (sent % 16 == 0) {
      garbage.socks.poll_rx(0, track_rx(garbage));
      hello.socks.poll_rx(0, track_rx(hello));  // never answered: the cookie dance stops here
      replay_same.socks.poll_rx(0, track_rx(replay_same));
      replay_other.socks.poll_rx(0, track_rx(replay_other));
      // half-open: feed the HelloVerifyRequest back so the server commits a handshake slot, then
      // stop (the client's later flights are never sent: its sessions are not timed).
      halfopen.socks.poll_rx(0, [&](int, std::span<const uint8_t> d) {
        halfopen.max_rx = std::max<uint64_t>(halfopen.max_rx, d.size());
        proto::OuterHeader h;
        if (proto::decode_outer_header(d, &h) != proto::HeaderStatus::ok) return;
        for (auto& b : bogus)
          if (b->session_id() == h.session_id && b->state() == proto::ClientSession::State::handshaking) {
            b->on_datagram(d, now_ms());
            break;
          }
      });
    }
  }
  uint64_t flood_ms = now_ms() - t0;
  for (uint64_t until = now_ms() + 500; now_ms() < until;)
    for (auto* k : {&garbage, &hello, &halfopen, &replay_same, &replay_other}) k->socks.poll_rx(5, track_rx(*k));

  std::printf("{\"rounds\":%ld,\"ms\":%llu,\"recorded\":%zu", sent, (unsigned long long)flood_ms, recorded.size());
  for (auto& k : kinds)
    std::printf(",\"%s\":{\"tx\":%llu,\"tx_bytes\":%llu,\"rx\":%llu,\"rx_bytes\":%llu,\"min_tx\":%llu,\"max_rx\":%llu}",
                k.name, (unsigned long long)k.socks.tx_datagrams, (unsigned long long)k.socks.tx_bytes,
                (unsigned long long)k.socks.rx_datagrams, (unsigned long long)k.socks.rx_bytes,
                (unsigned long long)(k.min_tx == UINT64_MAX ? 0 : k.min_tx), (unsigned long long)k.max_rx);
  std::printf("}\n");
  return 0;
}

}  // namespace ptun::load
