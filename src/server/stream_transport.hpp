// The server's TCP transport (docs/protocol.md §7): listeners, one coroutine per connection,
// TLS (tls::TlsStream: the server's certificate, no client certificate) around frames in and out. The sessions stay ServerEndpoint's: a connection's frames are datagrams from
// its remote endpoint (address:port of the TCP connection), and a datagram the endpoint sends to
// such an endpoint leaves on that connection. Admission and deadlines are proto::StreamGate's.
//
//   accept -> StreamGate::admit (total / per-source caps) -> serve: read -> Deframer -> Sink
//   every second: connections past their StreamClock deadline are closed (counted)
#pragma once
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/net_addr.hpp"
#include "core/core.hpp"
#include "proto/stream_frame.hpp"
#include "proto/stream_gate.hpp"
#include "tls/tls_stream.hpp"

namespace ptun::server {

class StreamTransport {
 public:
  struct Sink {
    virtual ~Sink() = default;
    // One datagram from a connection (writable: opened in place). Valid during the call only.
    virtual void on_stream_datagram(const Endpoint& from, std::span<uint8_t> dgram, uint64_t now) = 0;
    // After the datagrams of one read: flush what they queued, in one batch.
    virtual void after_stream_batch() = 0;
  };
  StreamTransport(core::Loop& loop, const proto::StreamLimits& limits, std::shared_ptr<tls::TlsStreamConfig> tls,
                  Sink& sink);
  ~StreamTransport();

  Result<void> listen(const Endpoint& ep);
  const std::vector<Endpoint>& listening() const { return bound_; }
  // Accept loops, connections and their deadlines, until stopped (then every connection closes).
  core::Task<void> run(core::CancelToken stop);

  // Whether `to` is a live connection's remote endpoint.
  bool owns(const Endpoint& to) const { return conns_.count(to) != 0; }
  // Frames `dgram` onto the connection of `to`; false if it is full (dropped, counted) or gone.
  bool send(const Endpoint& to, std::span<const uint8_t> dgram);
  // A session reached established on (or moved to) the connection of `ep`: its handshake
  // deadline no longer applies.
  void established(const Endpoint& ep);
  const proto::StreamCounters& counters() const { return gate_.counters(); }
  nlohmann::json to_json() const;

 private:
  struct Conn;
  core::Task<void> accept_loop(core::TcpListener& l, core::TaskScope& scope, core::CancelToken stop);
  core::Task<void> serve(std::unique_ptr<Conn> c, core::CancelToken stop);
  core::Task<void> sweep(core::CancelToken stop);
  bool push_out(Conn& c);   // the TLS outbox onto the socket; false: it did not fit

  core::Loop& loop_;
  std::shared_ptr<tls::TlsStreamConfig> tls_;
  Sink& sink_;
  proto::StreamGate gate_;
  std::vector<std::unique_ptr<core::TcpListener>> listeners_;
  std::vector<Endpoint> bound_;
  std::unordered_map<Endpoint, Conn*, EndpointHash> conns_;
  std::vector<uint8_t> tx_;  // one frame being built
};

}  // namespace ptun::server
