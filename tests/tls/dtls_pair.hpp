// In-memory harness: a client and a server DtlsSession joined by two datagram queues, a fake
// clock, a CookieGuard in front of the server (as the server role will use it), and a drop hook
// to lose chosen datagrams. No sockets, no threads, no real time.
//
//   client --to_server--> [CookieGuard until the cookie checks out] --> server session
//   client <--to_client-- (HelloVerifyRequests from the guard, then the server session)
#pragma once
#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/rng.hpp"
#include "tls/cookie_guard.hpp"
#include "tls/dtls_config.hpp"
#include "tls/dtls_session.hpp"

namespace ptun::tls::testing {

using Datagram = std::vector<uint8_t>;
using Queue = std::deque<Datagram>;

inline void push_datagram(void* ctx, std::span<const uint8_t> d) {
  static_cast<Queue*>(ctx)->emplace_back(d.begin(), d.end());
}

enum class Dir { to_server, to_client };

struct DtlsPair {
  // Declared first: the configs' DRBGs reseed from these, so they must be destroyed last.
  SeededRng client_rng{0xc11e47}, server_rng{0x5e7e7};
  std::shared_ptr<DtlsConfig> client_cfg, server_cfg;
  std::unique_ptr<DtlsSession> client, server;
  Queue to_server, to_client;
  uint64_t now = 0;
  Datagram client_addr{192, 0, 2, 7, 0xd4, 0x31};
  std::string server_name = "vpn.example.org";

  // Returns true to lose the n-th datagram (0-based, counted per direction).
  std::function<bool(Dir, size_t n, const Datagram&)> drop;
  size_t sent[2] = {0, 0};

  // What the guard saw and answered, for the HelloVerify assertions.
  std::vector<Datagram> guard_inputs;
  std::vector<Datagram> guard_replies;
  std::vector<CookieGuard::Verdict> verdicts;
  std::vector<Datagram> server_rx, client_rx;
  std::string server_read_error, client_read_error;

  // REQUIREs that both configs build.
  DtlsPair(std::shared_ptr<Credentials> client_creds, std::shared_ptr<Credentials> server_creds,
           const DtlsOptions& client_opts = {}, const DtlsOptions& server_opts = {}) {
    auto c = DtlsConfig::make_client(std::move(client_creds), client_rng, client_opts);
    auto s = DtlsConfig::make_server(std::move(server_creds), server_rng, server_opts);
    if (!c || !s) throw std::runtime_error("DtlsConfig: " + (c ? s.error().message : c.error().message));
    client_cfg = *c;
    server_cfg = *s;
  }

  // Creates the client session and sends its first ClientHello.
  void start() {
    client = std::make_unique<DtlsSession>(client_cfg, push_datagram, &to_server);
    (void)client->set_hostname(server_name);
    client->handshake(now);
  }

  static void drain(DtlsSession& s, std::vector<Datagram>& rx, std::string& err, uint64_t now) {
    uint8_t buf[17000];
    for (;;) {
      auto r = s.read(buf, sizeof buf, now);
      if (!r) {
        err = r.error().message;
        return;
      }
      if (*r == 0) return;
      rx.emplace_back(buf, buf + *r);
    }
  }

  void deliver_to_server(const Datagram& d) {
    if (!server) {
      guard_inputs.push_back(d);
      uint8_t reply[2048];
      size_t len = 0;
      auto v = server_cfg->cookie_guard()->check(d, client_addr, reply, sizeof reply, &len);
      verdicts.push_back(v);
      if (v == CookieGuard::Verdict::ok) {
        server = std::make_unique<DtlsSession>(server_cfg, push_datagram, &to_client);
        (void)server->set_client_id(client_addr);
        server->feed(d, now);
        server->handshake(now);
      } else if (len > 0) {
        guard_replies.emplace_back(reply, reply + len);
        to_client.emplace_back(reply, reply + len);
      }
      return;
    }
    server->feed(d, now);
    if (!server->established()) {
      server->handshake(now);
      return;
    }
    drain(*server, server_rx, server_read_error, now);
    if (reroute_on_close && !server->established()) {
      // What the server role does when read() reports Errc::closed: drop the session and give
      // the same datagram to the guard (it may be the ClientHello of a restarted client).
      ++retired_servers;
      server.reset();
      deliver_to_server(d);
    }
  }
  bool reroute_on_close = false;
  int retired_servers = 0;

  void deliver_to_client(const Datagram& d) {
    client->feed(d, now);
    if (client->established()) drain(*client, client_rx, client_read_error, now);
    else client->handshake(now);
  }

  bool lose(Dir dir, const Datagram& d) {
    size_t n = sent[int(dir)]++;
    return drop && drop(dir, n, d);
  }

  // Delivers queued datagrams (alternating, in order) until both queues are empty.
  void pump() {
    while (!to_server.empty() || !to_client.empty()) {
      if (!to_server.empty()) {
        Datagram d = std::move(to_server.front());
        to_server.pop_front();
        if (!lose(Dir::to_server, d)) deliver_to_server(d);
      }
      if (!to_client.empty()) {
        Datagram d = std::move(to_client.front());
        to_client.pop_front();
        if (!lose(Dir::to_client, d)) deliver_to_client(d);
      }
    }
  }

  // Runs the handshake to completion or failure; when the network is idle, advances the fake
  // clock to the earliest retransmission deadline. False on failure or after `limit_ms`.
  bool handshake(uint64_t limit_ms = 120000) {
    if (!client) start();
    for (int guard = 0; guard < 10000; ++guard) {
      pump();
      bool s_failed = server && server->handshake(now) == DtlsSession::Hs::failed;
      if (client->handshake(now) == DtlsSession::Hs::failed || s_failed) return false;
      if (client->established() && server && server->established()) return true;
      uint64_t t = client->next_timeout();
      if (server) t = std::min(t, server->next_timeout());
      if (t == UINT64_MAX || t > limit_ms) return false;
      now = std::max(now, t);
      if (client->next_timeout() <= now) client->on_timeout(now);
      if (server && server->next_timeout() <= now) server->on_timeout(now);
    }
    return false;
  }
};

}  // namespace ptun::tls::testing
