// The servers of the failover list (ServerList): each attempt resolves its server afresh (a name
// through core::resolve_host in libuv's pool, never blocking the loop; a literal at once), points
// the socket, kill switch and path at the address, and starts a handshake. An attempt that fails
// moves to the server's next address, else to the next server; the reconnect backoff only comes
// after the whole list failed. A server that refuses the client is skipped too; the client gives
// up (exit 1) only when every server of a round refused it.
//
//   start_session --literal--> set_server_endpoint --> start_handshake --> ClientSession
//        |                        ^
//        '--name--> run_resolver -'  (not resolvable: attempt_failed -> next server / backoff)
//
// The decisions (which address, which server, when, stale answers) are SessionDriver's
// (session_driver.hpp); this file does the I/O around them.
#include "client/client.hpp"

namespace ptun::client {

void Client::start_session() {
  now_ = loop_.now_ms();
  std::optional<uint64_t> old_rtt;
  if (session_) {
    old_rtt = session_->stats().rtt_us_smoothed / 1000;
    rekey_failures_prior_ += session_->stats().rekey_failures;
    retired_ = std::move(session_);
  }
  session_ended_ = false;
  paths_.cancel();
  if (life_.state() == State::disconnected) transition(State::connecting, Reason::user);
  if (resolve_cancel_) resolve_cancel_->cancel();   // a lookup for an earlier attempt: not wanted any more
  if (auto ep = driver_.begin(old_rtt)) {
    if (set_server_endpoint(*ep)) start_handshake();
    return;
  }
  LOG_INFO("client: resolving %s", driver_.current().host.c_str());
  if (resolve_wake_) resolve_wake_->poke();
}

void Client::cancel_resolve() {
  driver_.cancel_resolve();
  if (resolve_cancel_) resolve_cancel_->cancel();
}

core::Task<void> Client::run_resolver(core::CancelToken stop) {
  while (!stop.cancelled()) {
    if (!driver_.resolving()) {
      auto w = co_await resolve_wake_->wait_for(3600 * 1000, stop);   // woken by start_session
      if (!w && w.error().code == Errc::cancelled) break;
      continue;
    }
    uint64_t gen = driver_.gen();
    config::ServerAddress srv = driver_.current();
    core::CancelSource cancel(stop);
    resolve_cancel_ = &cancel;
    auto r = co_await core::resolve_host(loop_, srv.host, srv.port, cancel.token());
    resolve_cancel_ = nullptr;
    if (stop.cancelled()) break;
    // Superseded (a newer attempt, `ptun down`, a reload): a newer lookup may be wanted instead.
    if (!driver_.wants(gen)) continue;
    on_resolved(gen, r);
  }
}

void Client::on_resolved(uint64_t gen, const Result<std::vector<Endpoint>>& r) {
  now_ = loop_.now_ms();
  if (!want_up_) return;
  const std::string host = driver_.current().host;
  auto res = driver_.on_resolved(gen, r);
  switch (res.kind) {
    case SessionDriver::Resolved::stale: return;
    case SessionDriver::Resolved::failed: attempt_failed(res.error); return;
    case SessionDriver::Resolved::connect: break;
  }
  if (res.from_cache) {
    LOG_WARN("client: %s; trying its last address %s", res.error.c_str(), res.endpoint.str().c_str());
  } else if (res.changed) {
    LOG_INFO("client: %s is %s%s", host.c_str(), res.endpoint.addr.str().c_str(),
             res.count > 1 ? (" (and " + std::to_string(res.count - 1) + " more)").c_str() : "");
  }
  if (set_server_endpoint(res.endpoint)) start_handshake();
}

bool Client::set_server_endpoint(const Endpoint& ep) {
  if (ep == server_ep_) {
    connect_socket();   // if it could not connect before
    return true;
  }
  if (sock_ && ep.addr.is_v4() != sock_->local_endpoint().addr.is_v4()) {
    Endpoint any{ep.addr.is_v4() ? *IpAddr::parse("0.0.0.0") : *IpAddr::parse("::"), 0};
    dp_.quiesce();   // the tx thread may be sending on the old fd
    if (auto r = sock_->rebind(any); !r) {
      attempt_failed("cannot open a socket for " + ep.str() + ": " + r.error().message);
      return false;
    }
  }
  // The kill switch, if on, lets the new address through (and no longer the old one).
  if (host_)
    if (auto r = host_->update_server(ep); !r) {
      attempt_failed("kill switch: " + r.error().message);
      return false;
    }
  if (tcp_ || tcp_cancel_) {   // another server: its TCP transport is another connection
    transport_ = proto::Transport::udp;
    close_tcp();
  }
  server_ep_ = ep;
  connect_socket();
  paths_.reset(current_path());   // the route to this server is the new starting point, not a change
  return true;
}

void Client::connect_socket() {
  if (!sock_ || server_ep_.port == 0 || sock_->connected_peer() == server_ep_) return;
  dp_.quiesce();   // the tx thread may be sending on the socket
  if (auto r = sock_->connect(server_ep_); !r)
    LOG_DEBUG("client: UDP socket left unconnected: %s", r.error().message.c_str());
}

void Client::start_handshake() {
  now_ = loop_.now_ms();
  if (session_) {
    rekey_failures_prior_ += session_->stats().rekey_failures;
    retired_ = std::move(session_);
  }
  proto::ClientParams params;
  // Healing a lost session: short attempts (a full 30 s attempt would sit in DTLS retransmission
  // backoff while the server may be back already).
  params.handshake_timeout_ms = driver_.handshake_timeout_ms(life_.state() == State::reasserting);
  params.rekey.after_ms = uint64_t(cfg_.rekey_after_secs) * 1000;
  params.rekey.after_bytes = uint64_t(cfg_.rekey_after_mib) << 20;
  session_ = std::make_unique<proto::ClientSession>(dtls_, cfg_.server_name, "ptun/0.1.0", rng_, *this, params);
  session_ended_ = false;
  LOG_INFO("client: connecting to %s (%s, server %zu of %zu, %s)", server_ep_.str().c_str(),
           driver_.current().str().c_str(), driver_.list().current() + 1, driver_.servers().size(),
           cfg_.server_name.c_str());
  attempt_started_ms_ = now_;   // handshake latency: from here (the name already resolved)
  if (!tcp_) transport_ = proto::Transport::udp;   // TCP only while its connection lives
  choice_.attempt_started(transport_, now_);
  session_->start(now_);
  flush();
  poke_timer();
}

void Client::attempt_failed(const std::string& why, bool refused) {
  now_ = loop_.now_ms();
  auto next = driver_.failed(why, refused, server_ep_, now_, double(rng_.u32()) / 4294967295.0,
                             uint64_t(cfg_.reconnect_max_secs) * 1000);
  const std::string& error = driver_.last_error();
  switch (next.kind) {
    case SessionDriver::Next::next_address:
      // The same server at its next address, at once (no lookup: the answer is fresh).
      LOG_WARN("client: attempt failed (%s), next: address %zu of %zu", error.c_str(), driver_.list().address() + 1,
               driver_.addresses());
      if (set_server_endpoint(next.endpoint)) start_handshake();
      return;
    case SessionDriver::Next::give_up:
      // Every server turned this client away: retrying will not change that (a revoked or unknown
      // certificate). The end the client has always had for a refusal.
      LOG_ERROR("client: %s", error.c_str());
      transition(State::disconnecting, Reason::auth_refused, why);
      exit_code_ = 1;
      stop();
      return;
    case SessionDriver::Next::next_server:
      LOG_WARN("client: attempt failed (%s), next: %s in %llu ms", error.c_str(),
               driver_.servers()[next.server].str().c_str(), (unsigned long long)next.delay_ms);
      poke_timer();
      return;
  }
}

}  // namespace ptun::client
