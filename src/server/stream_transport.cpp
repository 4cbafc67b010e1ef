#include "server/stream_transport.hpp"

#include <unistd.h>

#include "common/log.hpp"
#include "tls/tls_stream.hpp"

namespace ptun::server {

struct StreamTransport::Conn {
  Conn(std::unique_ptr<core::TcpStream> st, std::unique_ptr<tls::TlsStream> t, const proto::StreamLimits& l,
       uint64_t now)
      : s(std::move(st)), tls(std::move(t)), clock(l, now), deframer(true) {}
  std::unique_ptr<core::TcpStream> s;
  std::unique_ptr<tls::TlsStream> tls;
  proto::StreamClock clock;
  proto::Deframer deframer;
};

StreamTransport::StreamTransport(core::Loop& loop, const proto::StreamLimits& limits,
                                 std::shared_ptr<tls::TlsStreamConfig> tls, Sink& sink)
    : loop_(loop), tls_(std::move(tls)), sink_(sink), gate_(limits) {}

StreamTransport::~StreamTransport() = default;

Result<void> StreamTransport::listen(const Endpoint& ep) {
  auto l = core::TcpListener::listen(loop_, ep);
  if (!l) return l.error();
  bound_.push_back((*l)->local());
  listeners_.push_back(std::move(*l));
  return {};
}

core::Task<void> StreamTransport::run(core::CancelToken stop) {
  core::TaskScope scope(loop_);
  for (auto& l : listeners_) scope.spawn(accept_loop(*l, scope, stop));
  scope.spawn(sweep(stop));
  co_await scope.join();
}

core::Task<void> StreamTransport::accept_loop(core::TcpListener& l, core::TaskScope& scope, core::CancelToken stop) {
  while (!stop.cancelled()) {
    auto a = co_await l.accept(stop);
    if (!a) {
      if (a.error().code == Errc::cancelled || a.error().code == Errc::closed) break;
      LOG_WARN("server: tcp accept: %s", a.error().message.c_str());
      (void)co_await core::sleep_for(loop_, 1000, stop);  // EMFILE and the like: breathe
      continue;
    }
    if (gate_.admit(a->peer.addr) != proto::StreamGate::Admit::ok || conns_.count(a->peer)) {
      ::close(a->fd);  // refused (counted by the gate): the peer sees a reset or EOF
      continue;
    }
    core::TcpOptions o;
    auto t = tls::TlsStream::make(tls_);
    if (!t) {   // out of memory: as good as refused
      ::close(a->fd);
      gate_.release(a->peer.addr);
      continue;
    }
    auto c = std::make_unique<Conn>(core::TcpStream::adopt(loop_, a->fd, a->peer, o), std::move(*t), gate_.limits(),
                                    loop_.now_ms());
    conns_[a->peer] = c.get();
    scope.spawn(serve(std::move(c), stop));
  }
}

core::Task<void> StreamTransport::serve(std::unique_ptr<Conn> c, core::CancelToken stop) {
  Endpoint peer = c->s->peer();
  auto& st = gate_.counters();
  std::vector<uint8_t> buf(64 << 10);
  for (;;) {
    auto n = co_await c->s->read_some(buf, stop);
    if (!n || *n == 0) {
      if (n && c->deframer.pending()) ++st.truncated;   // the peer ended mid-frame (not our close)
      break;
    }
    uint64_t now = loop_.now_ms();
    auto status = proto::Deframer::Status::ok;
    auto r = c->tls->feed(std::span<const uint8_t>(buf.data(), *n), [&](std::span<const uint8_t> plain) {
      if (status == proto::Deframer::Status::ok)
        status = c->deframer.feed(plain, [&](std::span<uint8_t> d) { sink_.on_stream_datagram(peer, d, now); });
    });
    sink_.after_stream_batch();
    (void)push_out(*c);   // handshake messages (an alert, when it failed)
    if (!r && r.error().code != Errc::closed) ++st.tls_failed;
    if (status == proto::Deframer::Status::bad_preamble) ++st.bad_preamble;
    if (status == proto::Deframer::Status::bad_length) ++st.bad_length;
    if (!r || status != proto::Deframer::Status::ok || !c->s->is_open()) break;
    c->clock.bytes_in(now, c->deframer.mid_frame());
  }
  conns_.erase(peer);
  c->s->close();
  gate_.release(peer.addr);
}

core::Task<void> StreamTransport::sweep(core::CancelToken stop) {
  auto& st = gate_.counters();
  while (!stop.cancelled()) {
    auto r = co_await core::sleep_for(loop_, 1000, stop);
    if (!r) break;
    uint64_t now = loop_.now_ms();
    for (auto& [ep, c] : conns_) {
      auto e = c->clock.expired(now);
      if (e == proto::StreamClock::Expiry::none) continue;
      ++(e == proto::StreamClock::Expiry::handshake ? st.handshake_timeouts : st.frame_timeouts);
      c->s->close();  // serve() ends, removes it from conns_ and releases its slot
    }
  }
  // Stopping: serve() sees the cancellation; close anything still open so no wait lingers.
  for (auto& [ep, c] : conns_) c->s->close();
}

bool StreamTransport::push_out(Conn& c) {
  auto& out = c.tls->outbox();
  bool ok = out.empty() || c.s->send(out);
  out.clear();
  return ok;
}

bool StreamTransport::send(const Endpoint& to, std::span<const uint8_t> dgram) {
  auto it = conns_.find(to);
  if (it == conns_.end()) return false;
  Conn& c = *it->second;
  tx_.clear();
  // Room is checked before sealing: a TLS record sealed and then not sent would break the stream.
  constexpr size_t kTlsRecordOverhead = 64;
  if (!c.tls->established() || !proto::append_frame(tx_, dgram) || !c.s->fits(tx_.size() + kTlsRecordOverhead) ||
      !c.tls->write(tx_) || !push_out(c)) {
    ++gate_.counters().send_dropped;
    if (c.tls->failed() || c.s->failed()) c.s->close();   // serve() ends it
    return false;
  }
  return true;
}

void StreamTransport::established(const Endpoint& ep) {
  if (auto it = conns_.find(ep); it != conns_.end()) it->second->clock.established();
}

nlohmann::json StreamTransport::to_json() const {
  const auto& c = gate_.counters();
  nlohmann::json listen = nlohmann::json::array();
  for (const auto& ep : bound_) listen.push_back(ep.str());
  return {{"listen", listen},
          {"connections", conns_.size()},
          {"accepted", c.accepted},
          {"refused_total", c.refused_total},
          {"refused_source", c.refused_source},
          {"handshake_timeouts", c.handshake_timeouts},
          {"frame_timeouts", c.frame_timeouts},
          {"tls_failed", c.tls_failed},
          {"bad_preamble", c.bad_preamble},
          {"bad_length", c.bad_length},
          {"truncated", c.truncated},
          {"closed", c.closed},
          {"send_dropped", c.send_dropped}};
}

}  // namespace ptun::server
