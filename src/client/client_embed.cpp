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

}  // namespace ptun::client
