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
#include "client/client.hpp"

namespace ptun::client {

void Client::start_session() {
  now_ = loop_.now_ms();
  session_up_ = false;
  if (session_) {
    last_rtt_ms_ = session_->stats().rtt_us_smoothed / 1000;
    rekey_failures_prior_ += session_->stats().rekey_failures;
    retired_ = std::move(session_);
  }
  session_ended_ = false;
  reconnect_at_ = UINT64_MAX;
  paths_.cancel();
  if (life_.state() == State::disconnected) transition(State::connecting, Reason::user);
  cancel_resolve();   // a lookup for an earlier attempt: its answer is not wanted any more
  ++resolve_gen_;
  const config::ServerAddress& srv = current_server();
  if (auto a = IpAddr::parse(srv.host)) {
    addresses_ = {Endpoint{*a, srv.port}};
    servers_.set_addresses(1);
    if (set_server_endpoint(addresses_[0])) start_handshake();
    return;
  }
  LOG_INFO("client: resolving %s", srv.host.c_str());
  resolving_ = true;
  if (resolve_wake_) resolve_wake_->poke();
}

void Client::cancel_resolve() {
  resolving_ = false;
  if (resolve_cancel_) resolve_cancel_->cancel();
}

core::Task<void> Client::run_resolver(core::CancelToken stop) {
  while (!stop.cancelled()) {
    if (!resolving_) {
      auto w = co_await resolve_wake_->wait_for(3600 * 1000, stop);   // woken by start_session
      if (!w && w.error().code == Errc::cancelled) break;
      continue;
    }
    uint64_t gen = resolve_gen_;
    config::ServerAddress srv = current_server();
    core::CancelSource cancel(stop);
    resolve_cancel_ = &cancel;
    auto r = co_await core::resolve_host(loop_, srv.host, srv.port, cancel.token());
    resolve_cancel_ = nullptr;
    if (stop.cancelled()) break;
    // Superseded (a newer attempt, `ptun down`, a reload): a newer lookup may be wanted instead.
    if (gen != resolve_gen_ || !resolving_) continue;
    resolving_ = false;
    on_resolved(r);
  }
}

void Client::on_resolved(const Result<std::vector<Endpoint>>& r) {
  now_ = loop_.now_ms();
  if (!want_up_) return;
  const config::ServerAddress& srv = current_server();
  std::optional<Endpoint>& known = resolved_[servers_.current()];
  if (r) {
    // Every address, in getaddrinfo's order (RFC 6724), each tried before the next server.
    addresses_ = *r;
    if (!known || !(*known == addresses_[0]))
      LOG_INFO("client: %s is %s%s", srv.host.c_str(), addresses_[0].addr.str().c_str(),
               addresses_.size() > 1 ? (" (and " + std::to_string(addresses_.size() - 1) + " more)").c_str() : "");
    known = addresses_[0];
  } else if (known) {
    // The name worked before: its last address beats no attempt at all (the DNS server may be
    // down, or only reachable through the tunnel, or blocked by the kill switch).
    LOG_WARN("client: %s; trying its last address %s", r.error().message.c_str(), known->str().c_str());
    addresses_ = {*known};
  } else {
    addresses_.clear();
    servers_.set_addresses(0);
    attempt_failed(r.error().message);
    return;
  }
  servers_.set_addresses(addresses_.size());
  if (set_server_endpoint(addresses_[0])) start_handshake();
}

bool Client::set_server_endpoint(const Endpoint& ep) {
  if (ep == server_ep_) return true;
  if (sock_ && ep.addr.is_v4() != sock_->local_endpoint().addr.is_v4()) {
    Endpoint any{ep.addr.is_v4() ? *IpAddr::parse("0.0.0.0") : *IpAddr::parse("::"), 0};
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
  paths_.reset(current_path());   // the route to this server is the new starting point, not a change
  return true;
}

void Client::start_handshake() {
  now_ = loop_.now_ms();
  if (session_) {
    rekey_failures_prior_ += session_->stats().rekey_failures;
    retired_ = std::move(session_);
  }
  proto::ClientParams params;
  params.handshake_timeout_ms = servers_.handshake_timeout_ms();
  params.rekey.after_ms = uint64_t(cfg_.rekey_after_secs) * 1000;
  params.rekey.after_bytes = uint64_t(cfg_.rekey_after_mib) << 20;
  if (life_.state() == State::reasserting) {
    // Healing a lost session: short attempts, so that a server that comes back is found within
    // about two seconds (a full 30 s attempt would sit in DTLS retransmission backoff instead).
    params.handshake_timeout_ms = uint32_t(std::min<uint64_t>(params.handshake_timeout_ms, 2500 + 4 * last_rtt_ms_));
  }
  session_ = std::make_unique<proto::ClientSession>(dtls_, cfg_.server_name, "ptun/0.1.0", rng_, *this, params);
  session_ended_ = false;
  session_up_ = false;
  LOG_INFO("client: connecting to %s (%s, server %zu of %zu, %s)", server_ep_.str().c_str(),
           current_server().str().c_str(), servers_.current() + 1, servers_.size(), cfg_.server_name.c_str());
  attempt_started_ms_ = now_;   // handshake latency: from here (the name already resolved)
  if (!tcp_) transport_ = proto::Transport::udp;   // TCP only while its connection lives
  choice_.attempt_started(transport_, now_);
  session_->start(now_);
  flush();
  poke_timer();
}

void Client::attempt_failed(const std::string& why, bool refused) {
  now_ = loop_.now_ms();
  attempt_error_ = current_server().str() + (addresses_.size() > 1 ? " at " + server_ep_.str() : "") + ": " + why;
  ServerList::Step step = servers_.on_failure(refused);
  if (step.next_address) {
    // The same server at its next address, at once (no lookup: the answer is fresh).
    LOG_WARN("client: attempt failed (%s), next: address %zu of %zu", attempt_error_.c_str(), servers_.address() + 1,
             addresses_.size());
    ++reconnects_;
    if (set_server_endpoint(addresses_[servers_.address()])) start_handshake();
    return;
  }
  if (step.all_refused) {
    // Every server turned this client away: retrying will not change that (a revoked or unknown
    // certificate). The end the client has always had for a refusal.
    LOG_ERROR("client: %s", attempt_error_.c_str());
    transition(State::disconnecting, Reason::auth_refused, why);
    exit_code_ = 1;
    stop();
    return;
  }
  uint64_t delay = 0;   // the next server of the round at once
  if (step.wrapped)
    delay = backoff_ms(attempt_++, uint64_t(cfg_.reconnect_max_secs) * 1000, double(rng_.u32()) / 4294967295.0);
  reconnect_at_ = now_ + delay;
  ++reconnects_;
  LOG_WARN("client: attempt failed (%s), next: %s in %llu ms", attempt_error_.c_str(),
           cfg_.servers[step.next].str().c_str(), (unsigned long long)delay);
  poke_timer();
}

}  // namespace ptun::client
