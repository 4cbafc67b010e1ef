// ptun-load: N concurrent client sessions from one process against a real `ptun server`.
//
//   certs: DIR/load-NNNN.{crt,key} issued by the CA in DIR (once; reused on later runs)
//   ramp:  at most --window handshakes in flight (the server's max_half_open is the real bound)
//   then:  every established session sends --packets ICMP echo requests to the server's tunnel
//          address, --interval-ms apart; the server's kernel answers through the tunnel
//   hold:  --hold-secs with every session up (the caller reads the server's RSS and counters)
//   out:   one JSON line: handshakes/s, packets/s, memory per session, server VmRSS/VmHWM
//
// Sessions share a few UDP sockets (--sockets); replies are matched to sessions by the outer
// header's session id, as the server itself does. One thread, poll() + recvmmsg.
//
// usage: ptun-load load --pki DIR --server IP:PORT --server-name NAME [--bind IP] [--sessions N]
//        [--sockets K] [--window W] [--packets P] [--interval-ms MS] [--hold-secs S]
//        [--server-pid PID] [--timeout-secs T] [--first F]
//        (--first: the first certificate number, so that loads against several servers are
//        distinct peers: load-F .. load-(F+N-1))
//        ptun-load flood ...   (load_flood.cpp)
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <unordered_map>

#include "load.hpp"
#include "common/log.hpp"
#include "packet/checksum.hpp"
#include "proto/client_session.hpp"
#include "proto/wire.hpp"
#include "tls/credentials.hpp"
#include "tls/dtls_config.hpp"
#include "tls/pki.hpp"

namespace ptun::load {

uint64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

uint64_t proc_kib(const std::string& pid, const char* field) {
  FILE* f = std::fopen(("/proc/" + pid + "/status").c_str(), "r");
  if (!f) return 0;
  char line[256];
  uint64_t v = 0;
  size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f))
    if (!std::strncmp(line, field, n) && line[n] == ':') v = std::strtoull(line + n + 1, nullptr, 10);
  std::fclose(f);
  return v;
}

bool Sockets::open(const Endpoint& server_ep, const IpAddr& bind_addr, int count) {
  server = server_ep;
  for (int i = 0; i < count; ++i) {
    int fd = ::socket(server.addr.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    // Bursts of handshake flights for hundreds of sessions: a small buffer would turn them into
    // loss and DTLS retransmission backoff. FORCE needs CAP_NET_ADMIN; fall back quietly.
    int buf = 8 << 20;
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0)
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) != 0)
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    sockaddr_storage ss;
    socklen_t len = Endpoint{bind_addr, 0}.to_sockaddr(&ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) return false;
    len = server.to_sockaddr(&ss);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) return false;
    fds.push_back(fd);
  }
  return true;
}

void Sockets::send(int idx, std::span<const uint8_t> d) {
  // A full socket buffer is loss, as on a real network: DTLS retransmits handshakes.
  if (::send(fds[size_t(idx)], d.data(), d.size(), 0) < 0) {
    ++tx_errors;
    return;
  }
  ++tx_datagrams;
  tx_bytes += d.size();
}

void Sockets::poll_rx(int timeout_ms, const std::function<void(int, std::span<const uint8_t>)>& on_rx) {
  std::vector<pollfd> p;
  for (int fd : fds) p.push_back({fd, POLLIN, 0});
  if (::poll(p.data(), p.size(), timeout_ms) <= 0) return;
  constexpr int kBatch = 64;
  static uint8_t bufs[kBatch][2048];
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  for (size_t i = 0; i < p.size(); ++i) {
    if (!(p[i].revents & POLLIN)) continue;
    for (int round = 0; round < 16; ++round) {
      for (int k = 0; k < kBatch; ++k) {
        iov[k] = {bufs[k], sizeof bufs[k]};
        msgs[k] = {};
        msgs[k].msg_hdr.msg_iov = &iov[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
      }
      int n = ::recvmmsg(fds[i], msgs, kBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) break;
      for (int k = 0; k < n; ++k) {
        ++rx_datagrams;
        rx_bytes += msgs[k].msg_len;
        on_rx(int(i), {bufs[k], msgs[k].msg_len});
      }
      if (n < kBatch) break;
    }
  }
}

namespace {

struct Args {
  std::map<std::string, std::string> kv;
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  long num(const std::string& k, long def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::strtol(it->second.c_str(), nullptr, 10);
  }
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 2; i + 1 < argc; i += 2) a.kv[argv[i]] = argv[i + 1];
  return a;
}

// An ICMP echo request from `src` to `dst` (IPv4, 28 + 16 bytes).
std::vector<uint8_t> echo_request(const IpAddr& src, const IpAddr& dst, uint16_t id, uint16_t seq) {
  std::vector<uint8_t> p(44, 0);
  p[0] = 0x45;
  p[3] = uint8_t(p.size());
  p[8] = 64;
  p[9] = 1;
  std::memcpy(&p[12], src.bytes.data(), 4);
  std::memcpy(&p[16], dst.bytes.data(), 4);
  uint16_t c = packet::checksum({p.data(), 20});
  p[10] = uint8_t(c >> 8);
  p[11] = uint8_t(c);
  p[20] = 8;
  p[24] = uint8_t(id >> 8);
  p[25] = uint8_t(id);
  p[26] = uint8_t(seq >> 8);
  p[27] = uint8_t(seq);
  std::memcpy(&p[28], "ptun-load-echo..", 16);
  c = packet::checksum({p.data() + 20, 24});
  p[22] = uint8_t(c >> 8);
  p[23] = uint8_t(c);
  return p;
}

struct Client;
struct Load {
  Sockets socks;
  std::unordered_map<uint64_t, Client*> by_id;
  uint64_t established = 0, closed = 0, echo_replies = 0, echo_sent = 0, first_est_ms = 0, last_est_ms = 0;
};

struct Client final : proto::ClientSession::Callbacks {
  Load& load;
  int sock;
  uint16_t index;
  std::unique_ptr<proto::ClientSession> session;
  proto::NetworkSettings settings;
  bool up = false;
  int sent = 0;
  uint64_t next_send = 0;
  Client(Load& l, int s, uint16_t i) : load(l), sock(s), index(i) {}
  void send_datagram(std::span<const uint8_t> d) override { load.socks.send(sock, d); }
  void deliver_packet(std::span<const uint8_t> ip) override {
    if (ip.size() >= 28 && ip[9] == 1 && ip[20] == 0) ++load.echo_replies;
  }
  void on_established(const proto::NetworkSettings& s) override {
    settings = s;
    up = true;
    ++load.established;
    load.last_est_ms = now_ms();
  }
  void on_closed(proto::CloseReason r, const std::string& detail) override {
    if (r != proto::CloseReason::shutdown && (up || load.closed < 5)) std::fprintf(stderr, "ptun-load: session %u closed: %s %s\n", index, proto::to_string(r), detail.c_str());
    up = false;
    ++load.closed;
  }
};

int run_load(int argc, char** argv) {
  Args a = parse_args(argc, argv);
  std::string dir = a.get("--pki");
  auto server = Endpoint::parse(a.get("--server"));
  std::string server_name = a.get("--server-name");
  if (dir.empty() || !server || server_name.empty()) {
    std::fprintf(stderr, "usage: ptun-load load --pki DIR --server IP:PORT --server-name NAME [options]\n");
    return 2;
  }
  auto bind = IpAddr::parse(a.get("--bind", server->addr.is_v4() ? "0.0.0.0" : "::"));
  int n = int(a.num("--sessions", 1000)), nsock = int(a.num("--sockets", 4)), window = int(a.num("--window", 64));
  int packets = int(a.num("--packets", 5)), interval = int(a.num("--interval-ms", 200));
  int hold = int(a.num("--hold-secs", 0)), timeout = int(a.num("--timeout-secs", 120));
  std::string server_pid = a.get("--server-pid");
  const int first = int(a.num("--first", 0));
  log::set_level(log::Level::error);

  // Certificates: one per session (the server keeps one session per certificate name).
  SystemRng rng;
  uint64_t t_certs = now_ms();
  std::vector<std::shared_ptr<tls::DtlsConfig>> configs;
  for (int i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "load-%04d", first + i);
    std::string base = dir + "/" + name;
    struct stat st;
    if (::stat((base + ".crt").c_str(), &st) != 0) {
      if (auto r = tls::pki::issue(dir, name, {}, rng); !r) {
        std::fprintf(stderr, "ptun-load: issue %s: %s\n", name, r.error().message.c_str());
        return 1;
      }
    }
    auto creds = tls::Credentials::load(dir + "/ca.crt", base + ".crt", base + ".key");
    if (!creds) {
      std::fprintf(stderr, "ptun-load: %s\n", creds.error().message.c_str());
      return 1;
    }
    auto conf = tls::DtlsConfig::make_client(*creds, rng);
    if (!conf) return 1;
    configs.push_back(*conf);
  }
  uint64_t certs_ms = now_ms() - t_certs;

  Load load;
  if (!bind || !load.socks.open(*server, *bind, nsock)) {
    std::perror("ptun-load: socket");
    return 1;
  }
  uint64_t rss_before = proc_kib("self", "VmRSS");
  std::vector<std::unique_ptr<Client>> clients;
  proto::ClientParams params;
  params.want_ipv6 = false;
  for (int i = 0; i < n; ++i) {
    clients.push_back(std::make_unique<Client>(load, i % nsock, uint16_t(i)));
    clients.back()->session = std::make_unique<proto::ClientSession>(configs[size_t(i)], server_name, "ptun-load",
                                                                   rng, *clients.back(), params);
  }

  uint64_t t0 = now_ms(), deadline = t0 + uint64_t(timeout) * 1000;
  size_t started = 0;
  uint64_t traffic_start = 0, traffic_end = 0, rss_at_full = 0, server_rss = 0, server_hwm = 0;
  auto pending = [&] { return started - load.established - load.closed; };
  while (now_ms() < deadline) {
    uint64_t now = now_ms();
    // Ramp: keep `window` handshakes in flight.
    while (started < clients.size() && pending() < size_t(window)) {
      auto& c = *clients[started++];
      c.session->start(now);
      load.by_id[c.session->session_id()] = &c;
    }
    load.socks.poll_rx(5, [&](int, std::span<const uint8_t> d) {
      proto::OuterHeader h;
      if (proto::decode_outer_header(d, &h) != proto::HeaderStatus::ok) return;
      auto it = load.by_id.find(h.session_id);
      if (it != load.by_id.end()) it->second->session->on_datagram(d, now_ms());
    });
    now = now_ms();
    bool all_sent = true;
    for (auto& c : clients) {
      if (c->session->next_deadline() <= now) c->session->on_timer(now);
      if (!c->up) {
        if (c->session->state() != proto::ClientSession::State::closed) all_sent = false;
        continue;
      }
      if (c->sent < packets) {
        all_sent = false;
        if (now >= c->next_send && c->settings.ipv4 && c->settings.server_ipv4) {
          auto p = echo_request(c->settings.ipv4->addr, *c->settings.server_ipv4, c->index, uint16_t(c->sent));
          if (!traffic_start) traffic_start = now;
          if (c->session->send_packet(p, now)) ++load.echo_sent;
          ++c->sent;
          c->next_send = now + uint64_t(interval);
        }
      }
    }
    if (started == clients.size() && pending() == 0 && !rss_at_full) {
      rss_at_full = proc_kib("self", "VmRSS");
      if (!server_pid.empty()) {
        server_rss = proc_kib(server_pid, "VmRSS");
        server_hwm = proc_kib(server_pid, "VmHWM");
      }
      std::fprintf(stderr, "ptun-load: %llu sessions established, %llu failed, in %.1f s\n",
                   (unsigned long long)load.established, (unsigned long long)load.closed, double(now - t0) / 1000);
    }
    if (all_sent && started == clients.size() && pending() == 0) {
      traffic_end = now;
      // Let the last replies arrive.
      for (uint64_t until = now_ms() + 1000; now_ms() < until;)
        load.socks.poll_rx(20, [&](int, std::span<const uint8_t> d) {
          proto::OuterHeader h;
          if (proto::decode_outer_header(d, &h) != proto::HeaderStatus::ok) return;
          auto it = load.by_id.find(h.session_id);
          if (it != load.by_id.end()) it->second->session->on_datagram(d, now_ms());
        });
      break;
    }
  }
  if (hold > 0) {
    std::fprintf(stderr, "ptun-load: holding %d sessions for %d s\n", int(load.established), hold);
    std::fflush(stderr);
    for (uint64_t until = now_ms() + uint64_t(hold) * 1000; now_ms() < until;) {
      load.socks.poll_rx(20, [&](int, std::span<const uint8_t> d) {
        proto::OuterHeader h;
        if (proto::decode_outer_header(d, &h) != proto::HeaderStatus::ok) return;
        auto it = load.by_id.find(h.session_id);
        if (it != load.by_id.end()) it->second->session->on_datagram(d, now_ms());
      });
      uint64_t now = now_ms();
      for (auto& c : clients)
        if (c->session->next_deadline() <= now) c->session->on_timer(now);
    }
    if (!server_pid.empty()) server_hwm = std::max(server_hwm, proc_kib(server_pid, "VmHWM"));
  }
  uint64_t failed = load.closed;  // before our own closes below
  uint64_t now = now_ms();
  for (auto& c : clients)
    if (c->up) c->session->close(proto::CloseReason::shutdown, now);

  double hs_secs = load.last_est_ms > t0 ? double(load.last_est_ms - t0) / 1000 : 0;
  double tr_secs = traffic_end > traffic_start ? double(traffic_end - traffic_start) / 1000 : 0;
  uint64_t per_session = load.established && rss_at_full > rss_before ? (rss_at_full - rss_before) * 1024 / load.established : 0;
  std::printf("{\"sessions\":%d,\"established\":%llu,\"failed\":%llu,\"cert_setup_ms\":%llu,"
              "\"handshake_secs\":%.2f,\"handshakes_per_sec\":%.1f,\"echo_sent\":%llu,\"echo_replies\":%llu,"
              "\"traffic_secs\":%.2f,\"packets_per_sec\":%.1f,\"client_bytes_per_session\":%llu,"
              "\"client_rss_kib\":%llu,\"server_vmrss_kib\":%llu,\"server_vmhwm_kib\":%llu,"
              "\"tx_datagrams\":%llu,\"rx_datagrams\":%llu,\"tx_errors\":%llu}\n",
              n, (unsigned long long)load.established, (unsigned long long)failed, (unsigned long long)certs_ms,
              hs_secs, hs_secs > 0 ? double(load.established) / hs_secs : 0.0, (unsigned long long)load.echo_sent,
              (unsigned long long)load.echo_replies, tr_secs,
              tr_secs > 0 ? double(load.echo_sent + load.echo_replies) / tr_secs : 0.0, (unsigned long long)per_session,
              (unsigned long long)rss_at_full, (unsigned long long)server_rss, (unsigned long long)server_hwm,
              (unsigned long long)load.socks.tx_datagrams, (unsigned long long)load.socks.rx_datagrams,
              (unsigned long long)load.socks.tx_errors);
  return load.established == uint64_t(n) && load.echo_replies > 0 ? 0 : 1;
}

}  // namespace
}  // namespace ptun::load

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "load") return ptun::load::run_load(argc, argv);
  if (mode == "flood") return ptun::load::run_flood(argc, argv);
  std::fprintf(stderr, "usage: ptun-load load|flood --server IP:PORT ... (see bench/load/ptun_load.cpp)\n");
  return 2;
}
