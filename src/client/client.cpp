#include "client/client.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <csignal>

#include "common/sd_notify.hpp"
#include "control/control_server.hpp"
#include "metrics/exporter.hpp"
#include "netlink/rtnl.hpp"
#include "tls/credentials.hpp"
#include "tls/dtls_config.hpp"
#include "tls/tls_stream.hpp"

namespace ptun::client {
namespace {

bool fatal(proto::CloseReason r) {
  return r == proto::CloseReason::auth_refused || r == proto::CloseReason::handshake_failed ||
         r == proto::CloseReason::version_mismatch;
}

SessionDriver::Why why_ended(proto::CloseReason r) {
  if (fatal(r)) return SessionDriver::Why::refused;
  if (r == proto::CloseReason::replaced) return SessionDriver::Why::replaced;
  return SessionDriver::Why::lost;
}

}  // namespace

Client::Client(core::Loop& loop, config::ClientConfig cfg)
    : loop_(loop), cfg_(std::move(cfg)), dp_(loop, *this, 512), driver_(cfg_.servers) {
  proto::TransportParams tp;
  tp.tcp_enabled = cfg_.tcp_port != 0;
  tp.fallback_ms = cfg_.tcp_fallback_secs * 1000;
  tp.probe_ms = cfg_.udp_probe_secs * 1000;
  choice_ = proto::TransportChoice(tp);
}

Client::~Client() { teardown(); }

Result<std::shared_ptr<tls::Credentials>> load_credentials(const config::ClientConfig& cfg) {
  auto source = [&](const std::string& path, const std::string& pem, const char* key) {
    return tls::Credentials::Source{path, pem, cfg.path + ": " + key};
  };
  return tls::Credentials::load(source(cfg.ca, cfg.ca_pem, "ca_pem"), source(cfg.cert, cfg.cert_pem, "cert_pem"),
                                source(cfg.key, cfg.key_pem, "key_pem"));
}

Result<std::unique_ptr<Client>> Client::create(core::Loop& loop, config::ClientConfig cfg) {
  std::unique_ptr<Client> c(new Client(loop, std::move(cfg)));
  if (auto r = c->setup(); !r) {
    c->teardown();
    return r.error();
  }
  return c;
}

Result<void> Client::setup() {
  log::Level lvl;
  if (log::parse_level(cfg_.log_level.c_str(), &lvl)) log::set_level(lvl);

  auto ctl = control::ControlServer::open(loop_, cfg_.control_socket, cfg_.control_group,
                                          [this](const control::Request& r) { return handle_control(r); });
  if (!ctl) return ctl.error();
  control_ = std::move(*ctl);
  if (::mkdir(cfg_.state_dir.c_str(), 0700) < 0 && errno != EEXIST)
    return Error::from_errno("cannot create state_dir " + cfg_.state_dir, errno);

  auto creds = load_credentials(cfg_);
  if (!creds) return creds.error();
  auto dtls = tls::DtlsConfig::make_client(*creds, rng_);
  if (!dtls) return dtls.error();
  dtls_ = *dtls;
  if (cfg_.tcp_port) {
    auto ts = tls::TlsStreamConfig::make_client(*creds, rng_);
    if (!ts) return ts.error();
    tls_stream_ = *ts;
  }

  // A literal first server is known now (the kill switch lets it through from the start); a
  // name is resolved by the first attempt (client_servers.cpp), never here: a name that does
  // not resolve at boot is retried, not fatal.
  if (auto a = IpAddr::parse(cfg_.servers[0].host)) server_ep_ = Endpoint{*a, cfg_.servers[0].port};

  if (cfg_.mode == "userspace") {
    if (auto r = setup_userspace(); !r) return r;
  } else {
    auto rtnl = netlink::Rtnl::open();
    if (!rtnl) return rtnl.error();
    rtnl_ = std::move(*rtnl);
    // Host settings: undo what a crashed run left, and the kill switch before the first datagram.
    auto host = netcfg::ClientHost::open(loop_, *rtnl_, netcfg::HostValues::from_config(cfg_), server_ep_);
    if (!host) return host.error();
    host_ = std::move(*host);
    tun::TunOptions topt;
    topt.name = cfg_.tunnel.interface;
    auto tun = tun::TunDevice::open(topt);
    if (!tun) return tun.error();
    tun_ = std::move(*tun);
    dev_ = tun_.get();
  }
  timer_ = std::make_unique<core::Timer>(loop_);
  resolve_wake_ = std::make_unique<core::Timer>(loop_);
  tcp_wake_ = std::make_unique<core::Timer>(loop_);

  core::UdpOptions o;
  o.fwmark = stack_ ? 0 : cfg_.tunnel.fwmark;   // ptun's own datagrams bypass the tunnel's routes
  // IPv4 until a server needs IPv6 (set_server_endpoint rebinds when the family changes).
  Endpoint any{server_ep_.addr.is_v6() ? *IpAddr::parse("::") : *IpAddr::parse("0.0.0.0"), 0};
  auto s = core::UdpSocket::bind(loop_, any, o);
  if (!s) return s.error();
  sock_ = std::move(*s);
  dp_.set_device(dev_);
  dp_.set_socket(0, sock_.get());
  dp_.set_tx_thread(cfg_.tunnel.tx_thread && !stack_);   // lwIP runs on the loop: never there
  if (auto r = setup_lifecycle(); !r) return r;
  if (auto r = setup_flows(); !r) return r;
  return {};
}

void Client::teardown() {
  dp_.set_tx_thread(false);   // it may still write to the TUN and the socket
  remove_settings();
  if (host_) host_->shutdown(user_down_);   // always_on keeps the kill switch unless `ptun down`
  host_.reset();
  tun_.reset();
}

void Client::stop() {
  if (stop_source_) stop_source_->cancel();
}

core::Task<int> Client::run() {
  core::CancelSource stop;
  stop_source_ = &stop;
  core::TaskScope scope(loop_);
  // With on-demand rules the first evaluation (run_path) decides; otherwise connect now.
  if (cfg_.on_demand.empty()) connect(Reason::user);
  else want_up_ = false;
  if (!cfg_.on_demand.empty()) notify_state(true);   // waits for its rules: ready as it is
  scope.spawn(run_path(stop.token()));
  if (metrics_) scope.spawn(metrics_->run(stop.token()));
  scope.spawn(dp_.run_socket(0, stop.token()));
  scope.spawn(stack_ ? run_userspace(stop.token()) : dp_.run_device(stop.token()));
  scope.spawn(run_timers(stop.token()));
  scope.spawn(run_resolver(stop.token()));
  if (cfg_.tcp_port) scope.spawn(run_tcp(stop.token()));
  scope.spawn(control_->run(stop.token()));
  co_await run_signals(stop.token());   // returns on a stop signal, `ptun stop` or a fatal error
  if (hosting_.notify_systemd) sd::notify("STOPPING=1");
  now_ = loop_.now_ms();
  transition(State::disconnecting, exit_code_ ? Reason::fatal : Reason::user);
  if (session_ && session_->state() != proto::ClientSession::State::closed)
    session_->close(proto::CloseReason::user, now_);
  flush();
  stop.cancel();
  co_await scope.join();
  stop_source_ = nullptr;
  teardown();
  transition(State::disconnected, exit_code_ ? Reason::fatal : Reason::user);
  LOG_INFO("client: stopped");
  co_return exit_code_;
}

core::Task<void> Client::wait_stopped(core::CancelToken stop) {
  core::Timer t(loop_);
  while (!stop.cancelled()) {
    auto r = co_await t.wait_until(loop_.now_ms() + 3600 * 1000, stop);   // not in an `if`: g++ 12
    if (!r) break;
  }
}

core::Task<void> Client::run_signals(core::CancelToken stop) {
  if (!hosting_.handle_signals) {   // the embedding program owns the process's signals
    co_await wait_stopped(stop);
    co_return;
  }
  auto sig = co_await core::wait_stop_signal(loop_, stop, [this] {
    LOG_INFO("client: SIGHUP, reloading %s", cfg_.path.c_str());
    if (auto r = reload(); !r) LOG_WARN("client: %s", r.error().message.c_str());
  });
  // Not a signal: `ptun stop` or a fatal error.
  if (sig) LOG_INFO("client: %s, disconnecting and restoring the host", core::signal_name(*sig));
}

void Client::on_established(const proto::NetworkSettings& s) {
  now_ = loop_.now_ms();
  if (auto r = apply_settings(s); !r) {
    // Refused (conflicting or malformed push, or the host said no): nothing of it stays applied,
    // the kill switch (if any) holds, `ptun status` shows why, and the client retries later.
    settings_error_ = r.error().message;
    LOG_ERROR("client: refusing the tunnel's settings: %s", settings_error_.c_str());
    session_->close(proto::CloseReason::none, now_);
    return;
  }
  settings_error_.clear();
  driver_.established();   // a lost session comes back to this server first
  established_ms_ = now_;
  handshake_seconds_.observe(double(now_ - attempt_started_ms_) / 1000.0);
  paths_.cancel();
  transition(State::connected, Reason::established);
  LOG_INFO("client: connected (%s%s%s), cipher %s", s.ipv4 ? s.ipv4->str().c_str() : "",
           s.ipv4 && s.ipv6 ? " " : "", s.ipv6 ? s.ipv6->str().c_str() : "", session_->ciphersuite().c_str());
}

void Client::on_rekeyed() {
  ++rekeys_;
  LOG_INFO("client: fresh keys (rekey %llu), session %016llx", (unsigned long long)rekeys_,
           (unsigned long long)session_->session_id());
}

void Client::on_closed(proto::CloseReason reason, const std::string& detail) {
  // Called from inside the session: only record it here; run_timers acts on it.
  session_ended_ = true;
  end_reason_ = reason;
  end_detail_ = detail;
  if (timer_) timer_->poke();
}

void Client::handle_session_end() {
  session_ended_ = false;
  now_ = loop_.now_ms();
  paths_.cancel();
  if (!want_up_) return;   // closed by disconnect(): stay down
  bool was_connected = life_.state() == State::connected;
  switch (driver_.ended(why_ended(end_reason_), was_connected, now_, double(rng_.u32()) / 4294967295.0,
                        uint64_t(cfg_.reconnect_max_secs) * 1000)) {
    case SessionDriver::End::replaced:
      // Another device with this certificate connected: it keeps the tunnel for a while.
      LOG_WARN("client: another session of this certificate took this one's place (%s): "
               "trying again in %llu s",
               end_detail_.empty() ? "same server" : end_detail_.c_str(),
               (unsigned long long)((driver_.reconnect_at() - now_ + 999) / 1000));
      if (was_connected) transition(State::reasserting, Reason::server_gone, proto::to_string(end_reason_));
      return;
    case SessionDriver::End::reconnect:
      // A lost session (it was up, maybe roaming): the next round starts with this server, the
      // first retry quickly (~0.5 s).
      LOG_WARN("client: session ended (%s%s%s), reconnecting", proto::to_string(end_reason_),
               end_detail_.empty() ? "" : ": ", end_detail_.c_str());
      if (was_connected) transition(State::reasserting, Reason::server_gone, proto::to_string(end_reason_));
      return;
    case SessionDriver::End::refused_in_session:   // revoked, pin changed: no longer connected anywhere
      if (was_connected) transition(State::reasserting, Reason::auth_refused, end_detail_);
      break;
    case SessionDriver::End::attempt_failed: break;
  }
  // The attempt never got a session (no answer, turned away), or its session was refused (a
  // revocation): the next address or server (client_servers.cpp); all refused: the end.
  attempt_failed(std::string(proto::to_string(end_reason_)) + (end_detail_.empty() ? "" : ": ") + end_detail_,
                 fatal(end_reason_));
}

core::Task<void> Client::run_timers(core::CancelToken stop) {
  while (!stop.cancelled()) {
    retired_.reset();
    if (session_ended_) handle_session_end();
    if (exit_code_) break;
    scheduled_deadline_ = next_deadline();
    uint64_t deadline = scheduled_deadline_ == UINT64_MAX ? loop_.now_ms() + 60000 : scheduled_deadline_;
    auto r = co_await timer_->wait_until(deadline, stop);
    if (!r && r.error().code == Errc::cancelled) break;
    now_ = loop_.now_ms();
    if (driver_.due(now_)) {
      if (want_up_) start_session();   // (which takes the due time)
      else driver_.clear_due();
      continue;
    }
    if (paths_.roaming()) roam_timer();
    if (session_ && now_ >= session_->next_deadline()) session_->on_timer(now_);
    if (now_ >= transport_deadline()) transport_tick();
    flush();
  }
}

uint64_t Client::next_deadline() const {
  uint64_t d = std::min(driver_.reconnect_at(), paths_.deadline());
  if (roam_confirmed()) return 0;   // a PONG on the new path arrived: finish the roam now
  if (session_ && !session_ended_) d = std::min(d, session_->next_deadline());
  return std::min(d, transport_deadline());
}

void Client::poke_timer() {
  if (timer_ && next_deadline() < scheduled_deadline_) timer_->poke();
}

}  // namespace ptun::client
