#include "client/lifecycle.hpp"

#include <algorithm>

namespace ptun::client {

const char* to_string(State s) {
  switch (s) {
    case State::disconnected: return "disconnected";
    case State::connecting: return "connecting";
    case State::connected: return "connected";
    case State::reasserting: return "reasserting";
    case State::disconnecting: return "disconnecting";
  }
  return "?";
}

const char* to_string(Reason r) {
  switch (r) {
    case Reason::none: return "none";
    case Reason::user: return "user";
    case Reason::config: return "config error";
    case Reason::network_change: return "network change";
    case Reason::server_gone: return "server gone";
    case Reason::auth_refused: return "auth refused";
    case Reason::reconnect: return "reconnect";
    case Reason::established: return "established";
    case Reason::fatal: return "fatal error";
    case Reason::on_demand: return "on-demand rule";
    case Reason::reload: return "reload";
    case Reason::roamed: return "roamed";
  }
  return "?";
}

bool Lifecycle::allowed(State from, State to) {
  using S = State;
  switch (from) {
    case S::disconnected: return to == S::connecting;
    case S::connecting: return to == S::connected || to == S::disconnecting;
    case S::connected: return to == S::reasserting || to == S::disconnecting;
    case S::reasserting: return to == S::connected || to == S::disconnecting;
    case S::disconnecting: return to == S::disconnected;
  }
  return false;
}

bool Lifecycle::go(State to, Reason why, uint64_t now_ms, std::string detail) {
  if (!allowed(state_, to)) return false;
  history_.push_back({now_ms, state_, to, why, detail});
  if (history_.size() > 32) history_.pop_front();
  state_ = to;
  since_ms_ = now_ms;
  reason_ = why;
  detail_ = std::move(detail);
  return true;
}

uint64_t backoff_ms(uint32_t attempt, uint64_t cap_ms, double rand01) {
  uint64_t base = 500;
  for (uint32_t i = 0; i < attempt && base < cap_ms; ++i) base *= 2;
  base = std::min(base, cap_ms);
  double jitter = 0.75 + 0.5 * std::clamp(rand01, 0.0, 1.0);
  return std::max<uint64_t>(100, uint64_t(double(base) * jitter));
}

}  // namespace ptun::client
