// The client as a library (src/embed): a userspace-mode client whose connections are opened by
// the embedding program through the proxy's machinery rather than by applications through
// listeners. Nothing here runs off the loop thread.
#include "client/client.hpp"

namespace ptun::client {

Result<std::unique_ptr<Client>> Client::create_embedded(core::Loop& loop, config::ClientConfig cfg) {
  if (cfg.mode != "userspace")
    return Error(Errc::invalid_argument, cfg.path + ": an embedded client needs mode = \"userspace\"");
  std::unique_ptr<Client> c(new Client(loop, std::move(cfg)));
  c->hosting_ = {.notify_systemd = false, .handle_signals = false, .require_listeners = false};   // before setup()
  if (auto r = c->setup(); !r) {
    c->teardown();
    return r.error();
  }
  return c;
}

std::string Client::state_reason() const {
  const auto& h = life_.history();
  auto said = [](const Lifecycle::Transition& t) {
    return std::string(to_string(t.reason)) + (t.detail.empty() ? "" : ": " + t.detail);
  };
  if (h.empty()) return to_string(life_.reason());
  // A fatal stop ends with "disconnecting (auth_refused: why) -> disconnected (fatal)".
  if (h.size() >= 2 && h.back().reason == Reason::fatal && h.back().detail.empty()) return said(h[h.size() - 2]);
  return said(h.back());
}

core::Task<void> Client::wait_stopped(core::CancelToken stop) {
  core::Timer t(loop_);
  while (!stop.cancelled()) {
    auto r = co_await t.wait_until(loop_.now_ms() + 3600 * 1000, stop);   // not in an `if`: g++ 12
    if (!r) break;
  }
}

}  // namespace ptun::client
