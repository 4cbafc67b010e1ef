// A minimal HTTP/1.0 endpoint for Prometheus on the loop: GET /metrics answers the text that
// `render` returns at that moment; anything else gets 404/405. Loopback addresses only (the config
// enforces it): there is no authentication, and metrics reveal peer names and addresses.
//
// Bounded: at most kMaxConnections served at once (more wait in the kernel's backlog), a request
// head of at most 8 KiB, and 2 s per connection from accept to the last byte written.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "core/core.hpp"

namespace ptun::metrics {

class Exporter {
 public:
  static constexpr size_t kMaxConnections = 8;
  using Render = std::function<std::string()>;
  // Binds and listens (SO_REUSEADDR). Errc::io if the address cannot be bound.
  static Result<std::unique_ptr<Exporter>> open(core::Loop& loop, const Endpoint& at, Render render);
  ~Exporter();
  Endpoint local_endpoint() const { return local_; }
  // Serves until `stop` is cancelled; joins its connections.
  core::Task<void> run(core::CancelToken stop);

 private:
  Exporter(core::Loop& loop, int fd, Endpoint local, Render render);
  core::Task<void> serve(int fd, core::CancelToken stop);

  core::Loop& loop_;
  int fd_;
  Endpoint local_;
  Render render_;
  std::unique_ptr<core::FdPoll> poll_;
  size_t active_ = 0;
};

// The HTTP response for one request head (pure; exposed for tests).
std::string http_response(std::string_view request_head, const Exporter::Render& render);

}  // namespace ptun::metrics
