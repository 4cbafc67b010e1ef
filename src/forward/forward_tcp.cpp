// TCP: the upstream connection is made before the client's SYN reaches lwIP, so a client sees
// what the destination answered (a refused port is a reset, as with kernel NAT) instead of a
// handshake that succeeds and then dies.
#include <cstring>

#include "common/log.hpp"
#include "forward/flow.hpp"
#include "netstack/netstack.hpp"
#include "packet/build.hpp"

namespace ptun::forward {
namespace {
constexpr uint8_t kSyn = 0x02, kRst = 0x04, kAck = 0x10;
}

void Forwarder::handle_tcp(std::span<const uint8_t> pkt, const packet::Parsed& p) {
  if (!p.has_l4) {
    ++stats_.dropped_malformed;
    return;
  }
  packet::FlowKey key = packet::flow_key(p);
  if (auto it = flows_.find(key); it != flows_.end()) {
    Flow& f = *it->second;
    if (f.state != Flow::State::connecting) {
      (void)stack_->write_parsed(pkt, p);
    } else if (p.tcp_flags & kRst) {
      f.cancel.cancel();   // the client gave up before the destination answered
    }
    return;   // a retransmitted SYN while connecting: the first one is kept
  }
  if ((p.tcp_flags & (kSyn | kAck | kRst)) != kSyn) {
    // Not a new connection and no flow: lwIP answers with a reset (or absorbs the last ACK of
    // a connection it is closing).
    (void)stack_->write_parsed(pkt, p);
    return;
  }
  if (!admit(p, tcp_count_, opts_.max_tcp)) {
    emit([&](uint8_t* out, size_t cap) { return packet::build_tcp_reset(pkt, p, out, cap); });
    return;
  }
  Flow& f = add_flow(key, opts_.tcp_idle_ms);
  f.syn.assign(pkt.begin(), pkt.end());
  f.deadline_ms = loop_.now_ms() + opts_.connect_timeout_ms;
  f.wake = std::make_unique<core::Timer>(loop_);
  scope_->spawn(run_tcp(f));
}

bool Forwarder::on_accept(std::unique_ptr<netstack::TcpConn>& conn) {
  Endpoint remote = conn->remote(), local = conn->local();
  packet::FlowKey key{remote.addr, local.addr, remote.port, local.port, packet::kProtoTcp};
  auto it = flows_.find(key);
  if (it == flows_.end() || it->second->state != Flow::State::accepting || it->second->conn) return false;
  conn->set_budget(budgets_.get(remote.addr));   // before lwIP hands it any data
  it->second->conn = std::move(conn);
  it->second->wake->poke();
  return true;
}

core::Task<void> Forwarder::run_tcp(Flow& f) {
  auto reset_client = [this, &f] {
    packet::Parsed p;
    if (packet::parse(f.syn, &p) != packet::ParseStatus::ok) return;
    emit([&](uint8_t* out, size_t cap) { return packet::build_tcp_reset(f.syn, p, out, cap); });
  };
  Endpoint dst{f.key.dst, f.key.dport};
  auto host = co_await relay::HostTcp::connect(loop_, dst, f.cancel.token());
  if (!host) {
    if (host.error().code == Errc::not_found) {
      ++stats_.tcp_unreachable;   // no route from here: what a router would say
      emit([&](uint8_t* out, size_t cap) {
        return packet::build_unreachable(f.syn, f.key.dst, packet::Unreachable::host, out, std::min<size_t>(cap, 1280));
      });
    } else if (host.error().code != Errc::cancelled) {
      ++stats_.tcp_refused_upstream;   // refused (or another failure): the client hears a reset
      reset_client();
    } else if (f.timed_out) {
      ++stats_.tcp_connect_timeouts;   // silence, like a black hole; the client retries or gives up
    }
    remove_flow(f);
    co_return;
  }
  if (auto r = stack_->listen_port(f.key.dport); !r) {
    LOG_WARN("forward: %s", r.error().message.c_str());
    reset_client();
    remove_flow(f);
    co_return;
  }
  f.state = Flow::State::accepting;
  f.deadline_ms = loop_.now_ms() + opts_.connect_timeout_ms;
  (void)stack_->write(f.syn);   // lwIP answers SYN-ACK; the client's ACK completes on_accept
  std::vector<uint8_t>().swap(f.syn);
  while (!f.conn && !f.cancel.token().cancelled()) {
    auto r = co_await f.wake->wait_until(f.deadline_ms, f.cancel.token());
    if (!r || loop_.now_ms() >= f.deadline_ms) break;
  }
  if (!f.conn) {   // the client vanished mid-handshake; lwIP times its half-open pcb out
    remove_flow(f);
    co_return;
  }
  f.state = Flow::State::relaying;
  ++stats_.tcp_opened;
  (void)co_await relay::relay_streams(loop_, **host, *f.conn, {}, f.cancel.token(), &f.act);
  if (f.timed_out) {   // idle or stalled: both sides hear a reset, as from a NAT that forgot the flow
    if (!f.stalled_out) ++stats_.tcp_idle_closed;
    f.conn->abort();
    (*host)->reset_on_close();
  } else {
    f.conn->close();
  }
  remove_flow(f);
}

}  // namespace ptun::forward
