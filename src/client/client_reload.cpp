// Reload (SIGHUP, `ptun reload`): the config file read again, and what changed applied without
// a restart where config/client_reload.cpp's table allows it, or refused as a whole.
#include "client/client.hpp"
#include "common/sd_notify.hpp"
#include "config/client_reload.hpp"
#include "tls/credentials.hpp"
#include "tls/dtls_config.hpp"

namespace ptun::client {

Result<nlohmann::json> Client::reload() {
  if (hosting_.notify_systemd) sd::notify(sd::reloading_message());
  auto r = apply_reload();
  if (hosting_.notify_systemd && ready_sent_) sd::notify("READY=1");
  return r;
}

Result<nlohmann::json> Client::apply_reload() {
  auto fresh = config::load_client(cfg_.path);
  if (!fresh) return Error(fresh.error().code, "reload refused, running config kept: " + fresh.error().message);
  config::ClientConfig& n = *fresh;
  // What may change and what each change takes: config/client_reload.cpp's table. Anything else
  // (the control socket, the device, the mode, privileges, apps, ...) needs a restart.
  auto plan = config::plan_reload(cfg_, n);
  if (!plan) return Error(plan.error().code, "reload refused, running config kept: " + plan.error().message);
  bool new_session = plan->has(config::reload_new_session);
  std::shared_ptr<tls::DtlsConfig> dtls = dtls_;
  if (new_session) {
    // Everything that can fail is done before anything is changed.
    auto creds = load_credentials(n);
    if (!creds) return Error(creds.error().code, "reload refused, running config kept: " + creds.error().message);
    auto d = tls::DtlsConfig::make_client(*creds, rng_);
    if (!d) return Error(d.error().code, "reload refused, running config kept: " + d.error().message);
    dtls = *d;
    // The servers' addresses (names resolved, socket family, kill switch) follow at the new
    // session's first attempt (client_servers.cpp), as at every reconnect.
  }
  bool host_settings = plan->has(config::reload_host_settings);
  if (plan->has(config::reload_log_level)) {
    log::Level lvl;
    if (log::parse_level(n.log_level.c_str(), &lvl)) log::set_level(lvl);
  }
  bool rules = plan->has(config::reload_on_demand);
  nlohmann::json changed = plan->groups();
  if (host_settings && host_) {
    // The host side holds values, not the config: new [routes]/[dns] for the next apply.
    if (auto r = host_->update(netcfg::HostValues::from_config(n)); !r)
      return Error(r.error().code, "reload refused, running config kept: " + r.error().message);
    host_values_changed_ = true;   // applied below, or by the new session's apply_settings
  }

  cfg_ = std::move(n);
  dtls_ = dtls;
  // A new list starts from its first server, nothing known about any of them; the same list
  // starts a new round.
  if (new_session) driver_.reload(cfg_.servers);
  std::string session = "kept";
  if (new_session && want_up_) {
    now_ = loop_.now_ms();
    if (session_ && !session_ended_ && session_->state() != proto::ClientSession::State::closed) {
      if (life_.state() == State::connected) transition(State::reasserting, Reason::reload);
      session_->close(proto::CloseReason::user, now_);
      flush();
      session_ended_ = false;
    }
    driver_.start_over();
    start_session();
    session = "restarted";
  } else if (host_settings && applied_) {
    proto::NetworkSettings s = *applied_;
    remove_settings();
    if (auto r = apply_settings(s); !r) {
      settings_error_ = r.error().message;
      LOG_ERROR("client: reload: cannot re-apply the settings: %s", settings_error_.c_str());
    }
  }
  if (rules && path_wake_) path_wake_->cancel();
  LOG_INFO("client: config reloaded (%zu changes), session %s", changed.size(), session.c_str());
  return nlohmann::json{{"reloaded", true}, {"changed", changed}, {"session", session}};
}

}  // namespace ptun::client
