// The client's lifecycle verbs: state transitions (logged, told to systemd), up and down.
// `ptun down` keeps the process running in `disconnected` (so `ptun up` and the on-demand rules
// can bring the tunnel back); `ptun stop` or SIGTERM ends it. The state machine itself is
// lifecycle.cpp's.
#include <linux/rtnetlink.h>

#include "client/client.hpp"
#include "common/sd_notify.hpp"
#include "metrics/exporter.hpp"
#include "netlink/rtnl.hpp"

namespace ptun::client {

Result<void> Client::setup_lifecycle() {
  // Route lookups need no privilege: this works in userspace mode too.
  auto rt = netlink::Rtnl::open();
  if (!rt) return rt.error();
  path_rtnl_ = std::move(*rt);
  if (auto m = PathMonitor::open(loop_)) {
    monitor_ = std::move(*m);
  } else {
    LOG_WARN("client: no path monitor (%s): polling the route every 2 s", m.error().message.c_str());
  }
  if (cfg_.metrics_listen) {
    auto ex = metrics::Exporter::open(loop_, *cfg_.metrics_listen, [this] { return metrics_text(); });
    if (!ex) return ex.error();
    metrics_ = std::move(*ex);
    LOG_INFO("client: metrics on http://%s/metrics", metrics_->local_endpoint().str().c_str());
  }
  return {};
}

void Client::transition(State to, Reason why, const std::string& detail) {
  State from = life_.state();
  if (!life_.go(to, why, loop_.now_ms(), detail)) return;
  LOG_INFO("client: %s -> %s (%s%s%s)", to_string(from), to_string(to), to_string(why),
           detail.empty() ? "" : ": ", detail.c_str());
  notify_state(to == State::connected);
}

void Client::connect(Reason why) {
  want_up_ = true;
  user_down_ = false;
  if (life_.state() != State::disconnected) return;   // already up or coming up
  driver_.start_over();
  if (host_) {   // the kill switch before the first datagram (include_all_networks)
    if (auto r = host_->engage(); !r) {   // fail closed: no kill switch, no connection
      settings_error_ = "kill switch: " + r.error().message;
      LOG_ERROR("client: %s", settings_error_.c_str());
      return;
    }
  }
  transition(State::connecting, why);
  start_session();
}

void Client::disconnect(Reason why) {
  want_up_ = false;
  paths_.cancel();
  cancel_resolve();
  driver_.stop();
  if (life_.state() == State::disconnected) return;
  now_ = loop_.now_ms();
  transition(State::disconnecting, why);
  if (session_ && !session_ended_ && session_->state() != proto::ClientSession::State::closed)
    session_->close(proto::CloseReason::user, now_);   // on_closed fires; want_up_ = false ignores it
  flush();
  session_ended_ = false;
  if (session_) {
    rekey_failures_prior_ += session_->stats().rekey_failures;
    retired_ = std::move(session_);
  }
  remove_settings();
  if (host_) host_->release(user_down_);   // always_on keeps the kill switch unless `ptun down`
  transition(State::disconnected, why);
  poke_timer();
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

// READY=1 once connected (or at start with on-demand rules, which may keep it down for good):
// `systemctl start` returns when the tunnel is usable. The embedding program owns its unit.
void Client::notify_state(bool ready) {
  if (!hosting_.notify_systemd) return;
  std::string m;
  if (ready && !ready_sent_) {
    ready_sent_ = true;
    m = "READY=1\n";
  }
  m += "STATUS=" + std::string(to_string(life_.state())) + " (" + to_string(life_.reason()) +
       (life_.detail().empty() ? "" : ": " + life_.detail()) + ")";
  sd::notify(m);
}

}  // namespace ptun::client
