#include "embed/loop_side.hpp"

#include "embed/status.hpp"

namespace ptun::embed {
namespace {

// Connections may be opened while the tunnel is up or healing (reasserting: lwIP retransmits
// until the session is back), not before the first settings arrived.
bool tunnel_usable(client::Client& c) {
  return c.proxy() && c.netstack() &&
         (c.state() == client::State::connected || c.state() == client::State::reasserting);
}

core::Task<void> serve_inbox(core::Loop& loop, client::Client& c, Inbox& inbox, core::TaskScope& conns,
                             core::CancelToken stop, bool* stop_called) {
  core::FdPoll poll(loop, inbox.fd());
  for (;;) {
    auto r = co_await poll.until(UV_READABLE, stop);
    if (!r) break;
    auto jobs = inbox.take();
    for (auto& j : jobs) {
      switch (j->kind) {
        case Job::Kind::state:
          j->state.set_value(client::to_string(c.state()));
          break;
        case Job::Kind::stop:
          // Connections first, so that their FIN/RST still leave through the session.
          *stop_called = true;
          conns.cancel();
          co_await conns.join();
          c.stop();
          break;
        case Job::Kind::tcp:
        case Job::Kind::udp:
          if (!tunnel_usable(c)) {
            j->socket.set_value(failed(status(Code::not_connected, std::string("the tunnel is not connected (") +
                                                                      client::to_string(c.state()) + ")")));
          } else if (j->kind == Job::Kind::tcp) {
            conns.spawn(serve_tcp(loop, *c.proxy(), std::move(j), conns.token()));
          } else {
            conns.spawn(serve_udp(loop, *c.proxy(), *c.netstack(), std::move(j), conns.token()));
          }
          break;
      }
    }
  }
}

}  // namespace

core::Task<std::string> run_embedded(core::Loop& loop, client::Client& c, Inbox& inbox) {
  core::TaskScope conns(loop);
  core::TaskScope aux(loop);
  bool stop_called = false;
  aux.spawn(serve_inbox(loop, c, inbox, conns, aux.token(), &stop_called));
  int rc = co_await c.run();
  std::string why = stop_called ? "stop() was called"
                                : "the client ended (" + c.state_reason() + ", exit code " + std::to_string(rc) + ")";
  aux.cancel();
  co_await aux.join();
  conns.cancel();
  co_await conns.join();
  for (auto& j : inbox.close(why)) {
    if (j->kind == Job::Kind::state) j->state.set_value("stopped");
    else if (j->kind != Job::Kind::stop) j->socket.set_value(failed(status(Code::stopped, why)));
  }
  co_return why;
}

}  // namespace ptun::embed
