// ptun as a library: run a ptun client inside your program and open TCP and UDP connections
// inside the tunnel directly, with no TUN, no root and no proxy in between.
//
//   ptun::embed::EmbeddedClient vpn;
//   if (auto st = vpn.start("/etc/ptun/app.toml"); !st.ok()) die(st.message);
//   if (auto st = vpn.wait_connected(std::chrono::seconds(10)); !st.ok()) die(st.message);
//   auto s = vpn.connect_tcp("intranet.example", 443);     // name resolved by the tunnel's DNS
//   if (!s.ok()) die(s.status.message);                     // e.g. "... connection refused"
//   write(s.fd, ...); read(s.fd, ...); close(s.fd);         // an ordinary blocking socket
//
// The config is an ordinary client config with mode = "userspace" (README: "Userspace mode");
// its [proxy] listeners and [[forward]] rules are optional here and work alongside if present.
// The client runs on a thread of its own (the libuv loop, the DTLS session and the embedded lwIP
// stack, which exists once per process: one running EmbeddedClient per process). It reconnects
// by itself like `ptun client`; its control socket answers `ptun status -s SOCKET`.
//
// Each connection is one end of a Unix socketpair whose other end ptun relays into the tunnel
// (lwIP TCP/UDP), with back-pressure: your reads and writes are the flow control. Destinations
// must lie inside the routes the server pushed (plus the config's [routes]), as in TUN mode.
// Process-wide effects: SIGPIPE is set to ignored if it had its default action (a write to a
// closed connection fails with EPIPE instead). SIGINT/SIGTERM are left to the program.
//
// Every member function may be called from any thread; the calls block until the client's
// thread has answered. Only std headers are used here: link the ptun_embed CMake target.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace ptun::embed {

enum class Code {
  ok = 0,
  not_started,     // start() was not called or failed, or stop() was called
  stopped,         // the client ended by itself (e.g. the server refused the certificate)
  not_connected,   // the tunnel is not up (connecting or disconnected)
  invalid_argument,
  config,          // the config file is missing, invalid or not mode = "userspace"
  not_found,       // no such name (DNS through the tunnel), or the tunnel has no DNS servers
  not_routed,      // the destination is outside the tunnel's routes
  refused,         // the destination answered with a reset
  timeout,         // no answer in time (connect, DNS, wait_connected)
  limit,           // too many connections inside the tunnel
  unsupported,     // the tunnel has no address of the destination's family
  io,              // anything else (system call, lwIP); see the message
};

struct Status {
  Code code = Code::ok;
  std::string message;   // human-readable, names the destination; empty when ok
  bool ok() const { return code == Code::ok; }
};

// A connected socket: the caller owns fd (close it when done). fd < 0 exactly when !ok().
struct Socket {
  int fd = -1;
  Status status;
  bool ok() const { return fd >= 0; }
};

class EmbeddedClient {
 public:
  EmbeddedClient();
  ~EmbeddedClient();   // stop()
  EmbeddedClient(const EmbeddedClient&) = delete;
  EmbeddedClient& operator=(const EmbeddedClient&) = delete;

  // Loads the config, sets the client up (credentials, control socket, lwIP) and starts its
  // thread, which connects at once. Errors: Code::config (file, validation, mode), Code::io
  // (e.g. another lwIP stack runs in this process, control socket path in use), invalid_argument
  // (already started). After an error the object may be started again.
  Status start(const std::string& config_path);

  // Blocks until the tunnel is connected (ok), the timeout passes (Code::timeout, the message
  // names the state), the client ends (Code::stopped, with why) or was never started.
  Status wait_connected(std::chrono::milliseconds timeout);

  // "connecting", "connected", "reasserting" (healing a lost session; connections wait),
  // "disconnecting", "disconnected", or "stopped" (not started, stopped, or ended by itself).
  std::string state() const;

  // A TCP connection to host:port inside the tunnel. host: an IPv4/IPv6 literal or a DNS name
  // (resolved through the tunnel's DNS servers, A if the tunnel has IPv4, else AAAA). The fd is a
  // connected blocking SOCK_STREAM socket (set O_NONBLOCK yourself if you want); shutdown(SHUT_WR)
  // sends FIN; close() ends the connection. timeout bounds resolution and connect together
  // (the connect itself gives up after 10 s). Errors: not_started, stopped, not_connected (the
  // tunnel is neither connected nor reasserting), invalid_argument (port 0, bad name),
  // not_found, not_routed, refused, timeout, limit, unsupported, io.
  Socket connect_tcp(const std::string& host, uint16_t port,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // A UDP "connection" to host:port inside the tunnel. The fd is a blocking SOCK_SEQPACKET
  // socket: each send() is one datagram to host:port, each recv() one reply from it (replies
  // from other sources are dropped). Datagrams are not delivered reliably (UDP): when you do not
  // read, replies are dropped rather than buffered without bound. Zero-length datagrams are not
  // carried (a 0-byte recv() means the flow ended). The flow ends after `idle` without a
  // datagram either way, or when you close fd. Errors as connect_tcp, without refused/timeout.
  Socket open_udp(const std::string& host, uint16_t port,
                  std::chrono::milliseconds idle = std::chrono::seconds(60));

  // Closes every connection, ends the session (the server is told) and joins the client's thread.
  // Idempotent; fds already handed out read EOF / fail with EPIPE afterwards.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The name of a code, e.g. "not_routed".
const char* to_string(Code c);

}  // namespace ptun::embed
