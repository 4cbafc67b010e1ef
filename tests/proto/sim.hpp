// An in-memory network and fake clock for whole-protocol tests: ClientSessions and one
// ServerEndpoint exchange real DTLS datagrams through a seeded simulator with configurable loss,
// duplication, reordering (random extra delay) and a drop-everything switch. No sockets.
//
//   ClientNode(addr C1) --\                          /-- ServerEndpoint (addr S)
//   ClientNode(addr C2) ---+-- SimNet(loss,dup,...) -+
//
// Time only moves in run(): to the earliest of the next delivery and every peer's deadline.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../tls/tls_fixture.hpp"
#include "common/rng.hpp"
#include "proto/client_session.hpp"
#include "proto/server_endpoint.hpp"
#include "proto/wire.hpp"

namespace ptun::proto::testing {

using tls::testing::TestPki;

struct SimNet {
  struct Packet {
    uint64_t at;
    uint64_t seq;
    Endpoint from, to;
    std::vector<uint8_t> data;
  };
  SeededRng rng{0x51e7};
  double loss = 0, dup = 0, reorder = 0;  // probabilities
  uint64_t delay_ms = 5, reorder_extra_ms = 30;
  bool drop_all = false;
  std::vector<Endpoint> unreachable;  // datagrams to these addresses are lost (a dead old path)
  uint64_t sent = 0, lost = 0;
  std::vector<Packet> flight;  // unordered; next() picks the earliest
  std::vector<Packet> log;     // every datagram offered to the network (for replay tests)
  bool keep_log = false;
  uint64_t seq_ = 0;

  // Capture mode (allocation tests): the last datagram is copied here instead of travelling.
  bool capture = false;
  uint8_t captured[20000];
  size_t captured_len = 0;

  double uniform() { return double(rng.u32()) / 4294967296.0; }
  const uint8_t* last_data = nullptr;  // where the last datagram was handed over (in-place tests)
  void send(const Endpoint& from, const Endpoint& to, std::span<const uint8_t> d, uint64_t now) {
    ++sent;
    last_data = d.data();
    if (capture) {
      captured_len = std::min(d.size(), sizeof captured);
      std::memcpy(captured, d.data(), captured_len);
      return;
    }
    Packet p{0, 0, from, to, std::vector<uint8_t>(d.begin(), d.end())};
    if (keep_log) log.push_back(p);
    if (drop_all || uniform() < loss || std::find(unreachable.begin(), unreachable.end(), to) != unreachable.end()) {
      ++lost;
      return;
    }
    int copies = uniform() < dup ? 2 : 1;
    for (int i = 0; i < copies; ++i) {
      p.at = now + delay_ms + (uniform() < reorder ? rng.u32() % (reorder_extra_ms + 1) : 0);
      p.seq = ++seq_;
      flight.push_back(p);
    }
  }
  uint64_t next_at() const {
    uint64_t t = UINT64_MAX;
    for (const auto& p : flight) t = std::min(t, p.at);
    return t;
  }
  // Removes and returns the earliest packet due at `now` (ties in send order).
  bool pop_due(uint64_t now, Packet* out) {
    auto best = flight.end();
    for (auto it = flight.begin(); it != flight.end(); ++it)
      if (it->at <= now && (best == flight.end() || std::tie(it->at, it->seq) < std::tie(best->at, best->seq)))
        best = it;
    if (best == flight.end()) return false;
    *out = std::move(*best);
    flight.erase(best);
    return true;
  }
};

struct World;

struct ClientNode : ClientSession::Callbacks {
  World& w;
  Endpoint addr;
  SeededRng rng;
  std::shared_ptr<tls::DtlsConfig> config;
  std::unique_ptr<ClientSession> session;
  std::vector<std::vector<uint8_t>> delivered;
  int established = 0, closed = 0;
  NetworkSettings settings;
  CloseReason reason = CloseReason::none;
  std::string detail;

  ClientNode(World& world, Endpoint a, std::shared_ptr<tls::Credentials> creds, uint64_t seed,
             const ClientParams& params = {}, std::string server_name = "vpn.example.org");
  void send_datagram(std::span<const uint8_t> d) override;
  size_t delivered_count = 0;
  const uint8_t* last_delivered = nullptr;  // where the last packet was handed over (in-place tests)
  void deliver_packet(std::span<const uint8_t> ip) override {
    ++delivered_count;
    last_delivered = ip.data();
    if (!capture_only()) delivered.emplace_back(ip.begin(), ip.end());
  }
  bool capture_only() const;
  void on_established(const NetworkSettings& s) override {
    ++established;
    settings = s;
  }
  bool reconnect_on_close = false;  // call start() from inside on_closed, as a reconnecting app would
  void on_closed(CloseReason r, const std::string& d) override;
};

struct ServerNode : ServerEndpoint::Callbacks {
  World& w;
  Endpoint addr = *Endpoint::parse("198.51.100.1:4433");
  SeededRng rng{0x5e7e7};
  std::shared_ptr<tls::DtlsConfig> config;
  std::unique_ptr<ServerEndpoint> endpoint;
  std::map<uint64_t, std::vector<std::vector<uint8_t>>> delivered;
  std::vector<uint64_t> established, closed, roamed;
  std::map<uint64_t, CloseReason> close_reasons;
  std::map<uint64_t, SessionStats> final_stats;   // on_closed: the counters at the end
  std::vector<std::string> authorized_cns;
  // authorize() refuses with this reason and text when set.
  std::optional<std::pair<CloseReason, std::string>> refuse;
  uint32_t next_host = 2;
  bool sticky = false;   // every session gets 10.99.0.2, as a peer's lease does (rekey tests)
  std::vector<ClientHello> hellos;
  bool defer = false;               // authorize() answers Errc::would_block; deferred lists the ids
  std::vector<uint64_t> deferred;

  ServerNode(World& world, const ServerEndpoint::Limits& limits, const tls::DtlsOptions& opts);
  void send_datagram(const Endpoint& to, std::span<const uint8_t> d) override;
  size_t delivered_count = 0;
  const uint8_t* last_delivered = nullptr;
  void deliver_packet(uint64_t id, std::span<const uint8_t> ip) override {
    ++delivered_count;
    last_delivered = ip.data();
    if (!capture_only()) delivered[id].emplace_back(ip.begin(), ip.end());
  }
  bool capture_only() const;
  Result<NetworkSettings> authorize(uint64_t id, const std::string& cn, const ClientHello& hello, CloseReason* why) override {
    authorized_cns.push_back(cn);
    hellos.push_back(hello);
    if (defer) {
      deferred.push_back(id);
      return Error(Errc::would_block, "deferred");
    }
    return settings_for(why);
  }
  Result<NetworkSettings> settings_for(CloseReason* why) {
    if (refuse) {
      *why = refuse->first;
      return Error(Errc::auth, refuse->second);
    }
    NetworkSettings s;
    s.ipv4 = Cidr{IpAddr::v4(0x0a630000u | (sticky ? 2 : next_host++)), 24};
    s.server_ipv4 = *IpAddr::parse("10.99.0.1");
    s.mtu = 1380;
    s.included_routes = {*Cidr::parse("0.0.0.0/0")};
    s.dns_servers = {*IpAddr::parse("10.99.0.1")};
    s.keepalive_secs = 10;
    s.dead_peer_secs = 30;
    return s;
  }
  void on_established(uint64_t id, const std::string&, const Endpoint&) override { established.push_back(id); }
  void on_roamed(uint64_t id, const Endpoint&) override { roamed.push_back(id); }
  void on_closed(uint64_t id, CloseReason r, const SessionStats& st) override {
    closed.push_back(id);
    close_reasons[id] = r;
    final_stats[id] = st;
  }
};

struct World {
  uint64_t now = 1'000'000;
  SimNet net;
  std::unique_ptr<ServerNode> server;
  std::vector<std::unique_ptr<ClientNode>> clients;

  explicit World(const ServerEndpoint::Limits& limits = {}, const tls::DtlsOptions& server_opts = tls::testing::opts()) {
    server = std::make_unique<ServerNode>(*this, limits, server_opts);
  }

  ClientNode& add_client(const std::string& addr, std::shared_ptr<tls::Credentials> creds = nullptr,
                         const ClientParams& params = {}) {
    if (!creds) creds = TestPki::get().creds(TestPki::get().client);
    clients.push_back(std::make_unique<ClientNode>(*this, *Endpoint::parse(addr), std::move(creds),
                                                   0xc1000 + clients.size(), params));
    return *clients.back();
  }

  uint64_t next_event() const {
    uint64_t t = std::min(net.next_at(), server->endpoint->next_deadline());
    for (const auto& c : clients) t = std::min(t, c->session->next_deadline());
    return t;
  }

  void deliver(SimNet::Packet& p) {
    if (p.to == server->addr) {
      server->endpoint->on_datagram(p.from, p.data, now);
      return;
    }
    for (auto& c : clients)
      if (c->addr == p.to) c->session->on_datagram(p.data, now);
    // Packets to an address nobody has (e.g. a client's old address after roaming) vanish.
  }

  // Advance the clock event by event until `done()` or `limit_ms` of simulated time passed.
  bool run(const std::function<bool()>& done, uint64_t limit_ms) {
    uint64_t end = now + limit_ms;
    for (int guard = 0; guard < 1'000'000; ++guard) {
      if (done()) return true;
      uint64_t t = next_event();
      if (t > end) {
        now = end;
        return done();
      }
      now = std::max(now, t);
      SimNet::Packet p;
      while (net.pop_due(now, &p)) deliver(p);
      if (server->endpoint->next_deadline() <= now) server->endpoint->on_timer(now);
      for (auto& c : clients)
        if (c->session->next_deadline() <= now) c->session->on_timer(now);
    }
    return done();
  }
  void run_for(uint64_t ms) {
    run([] { return false; }, ms);
  }
};

inline ClientNode::ClientNode(World& world, Endpoint a, std::shared_ptr<tls::Credentials> creds, uint64_t seed,
                              const ClientParams& params, std::string server_name)
    : w(world), addr(a), rng(seed) {
  auto c = tls::DtlsConfig::make_client(std::move(creds), rng, tls::testing::opts());
  if (!c) throw std::runtime_error(c.error().message);
  config = *c;
  session = std::make_unique<ClientSession>(config, server_name, "ptun-test 1.0", rng, *this, params);
}

inline bool ClientNode::capture_only() const { return w.net.capture; }
inline bool ServerNode::capture_only() const { return w.net.capture; }

inline void ClientNode::on_closed(CloseReason r, const std::string& d) {
  ++closed;
  reason = r;
  detail = d;
  if (reconnect_on_close) {
    reconnect_on_close = false;
    session->start(w.now);
  }
}

inline void ClientNode::send_datagram(std::span<const uint8_t> d) { w.net.send(addr, w.server->addr, d, w.now); }

inline ServerNode::ServerNode(World& world, const ServerEndpoint::Limits& limits, const tls::DtlsOptions& opts)
    : w(world) {
  auto c = tls::DtlsConfig::make_server(TestPki::get().creds(TestPki::get().server), rng, opts);
  if (!c) throw std::runtime_error(c.error().message);
  config = *c;
  endpoint = std::make_unique<ServerEndpoint>(config, *this, limits);
}

inline void ServerNode::send_datagram(const Endpoint& to, std::span<const uint8_t> d) { w.net.send(addr, to, d, w.now); }

// A minimal valid-looking IPv4 packet: version/IHL, total length, and a marker byte.
// The client's session is established (the tests' usual condition).
inline bool up(ClientNode& c) { return c.session->state() == ClientSession::State::established; }

// Starts `c` and runs the world until its session is established (or fails the test).
inline void establish(World& w, ClientNode& c) {
  c.session->start(w.now);
  REQUIRE(w.run([&] { return up(c) || c.closed; }, 60'000));
  REQUIRE(up(c));
}

inline std::vector<uint8_t> ip4_packet(size_t len, uint8_t marker) {
  std::vector<uint8_t> p(len, marker);
  p[0] = 0x45;
  p[2] = uint8_t(len >> 8);
  p[3] = uint8_t(len);
  return p;
}

}  // namespace ptun::proto::testing
