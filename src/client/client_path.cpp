// Path monitoring, roaming and on-demand rules for the client.
//
//   rtnetlink event --settle--> current_path() (route to the server with ptun's fwmark: interface,
//   source, gateway) --changed?--> roam(): rebind the UDP socket (same fwmark, new port), PING
//   at once; the server moves the session on that authenticated datagram (docs/protocol.md §6)
//   and its PONG confirms -> connected again, same session id. No PONG after kRoamPings pings ->
//   a new handshake (the old session may be unusable from this network).
//   on-demand: current_network() -> ondemand::evaluate (probes run here) -> connect/disconnect.
// The decisions are PathWatcher's (path_watcher.hpp); this file does the I/O around them.
#include <fstream>
#include <sstream>

#include "client/client.hpp"
#include "client/http_probe.hpp"
#include "netlink/rtnl.hpp"

namespace ptun::client {
namespace {

constexpr uint64_t kProbeTimeoutMs = 3000;

std::string read_small_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) return {};
  std::string out(4096, '\0');
  f.read(out.data(), std::streamsize(out.size()));
  out.resize(size_t(f.gcount()));
  return out;
}

ondemand::IfType interface_type(const std::string& name) {
  std::string base = "/sys/class/net/" + name;
  int arphrd = std::atoi(read_small_file(base + "/type").c_str());
  std::string devtype;
  std::istringstream uevent(read_small_file(base + "/uevent"));
  for (std::string line; std::getline(uevent, line);)
    if (line.rfind("DEVTYPE=", 0) == 0) devtype = line.substr(8);
  return ondemand::classify_interface(arphrd, devtype, name);
}

}  // namespace

Path Client::current_path() {
  Path p;
  if (!path_rtnl_ || server_ep_.addr.empty()) return p;   // no server address yet: no path either
  auto r = path_rtnl_->route_get(server_ep_.addr, stack_ ? 0 : cfg_.tunnel.fwmark);
  if (!r || r->ifindex <= 0 || r->type != RTN_UNICAST) return p;
  p.ifindex = r->ifindex;
  p.source = r->prefsrc;
  p.gateway = r->gateway;
  if (auto l = path_rtnl_->link_get(r->ifindex)) p.ifname = l->name;
  return p;
}

ondemand::Network Client::current_network(const Path& p) {
  ondemand::Network n;
  if (p.ifindex) {
    n.interface = p.ifname;
    n.type = interface_type(p.ifname);
  }
  ondemand::parse_resolv_conf(read_small_file("/etc/resolv.conf"), &n.dns_servers, &n.search_domains);
  return n;
}

SessionPhase Client::session_phase() const {
  if (session_ && !session_ended_ && session_->state() == proto::ClientSession::State::established)
    return SessionPhase::established;
  if (driver_.waiting()) return SessionPhase::waiting_to_reconnect;
  if (session_ && !session_ended_) return SessionPhase::handshaking;
  return SessionPhase::idle;
}

void Client::on_path(const Path& p) {
  Path old = paths_.path();
  auto change = paths_.on_path(p, want_up_, session_phase());
  if (p == old) return;
  now_ = loop_.now_ms();
  LOG_INFO("client: path to %s: %s -> %s", server_ep_.addr.str().c_str(), old.str().c_str(), p.str().c_str());
  switch (change) {
    case PathWatcher::Change::none: return;
    case PathWatcher::Change::no_route:
      // Nothing to send on. Keep the session (it may survive a short outage) and say so.
      transition(State::reasserting, Reason::network_change, "no route to the server");
      return;
    case PathWatcher::Change::roam: roam(); return;
    case PathWatcher::Change::reconnect_now:
      driver_.hurry(now_);   // from the server that worked last
      poke_timer();
      return;
    case PathWatcher::Change::restart_handshake:
      dp_.quiesce();   // the tx thread may be sending on the old fd
      if (auto r = sock_->rebind(Endpoint{sock_->local_endpoint().addr, 0}); !r)
        LOG_WARN("client: rebind: %s", r.error().message.c_str());
      connect_socket();
      start_session();
      return;
  }
}

void Client::roam() {
  now_ = loop_.now_ms();
  transition(State::reasserting, Reason::network_change, "path changed, moving the session");
  // A new port (and the kernel's new source address): the 5-tuple changes, the session id stays.
  dp_.quiesce();   // the tx thread may be sending on the old fd
  auto r = sock_->rebind(Endpoint{sock_->local_endpoint().addr, 0});
  if (!r) {
    LOG_WARN("client: cannot rebind the UDP socket (%s): new handshake", r.error().message.c_str());
    paths_.roam_failed();
    start_session();
    return;
  }
  connect_socket();
  LOG_INFO("client: roaming: socket now %s, session %016llx", sock_->local_endpoint().str().c_str(),
           (unsigned long long)session_->session_id());
  paths_.roam_started(now_, session_->stats().pongs_received);
  session_->on_path_changed(now_);
  flush();
  poke_timer();
}

bool Client::roam_confirmed() const {
  return session_ && paths_.confirmed(session_->stats().pongs_received, !session_ended_);
}

void Client::roam_timer() {
  now_ = loop_.now_ms();
  bool alive = session_ && !session_ended_;
  bool established = alive && session_->state() == proto::ClientSession::State::established;
  switch (paths_.on_timer(now_, alive ? session_->stats().pongs_received : 0, alive, established)) {
    case PathWatcher::RoamStep::wait:
    case PathWatcher::RoamStep::dropped: return;
    case PathWatcher::RoamStep::confirmed:
      transition(State::connected, Reason::roamed,
                 "same session over " + (paths_.path().ifname.empty() ? std::string("?") : paths_.path().ifname));
      return;
    case PathWatcher::RoamStep::ping:
      session_->on_path_changed(now_);
      flush();
      return;
    case PathWatcher::RoamStep::give_up:
      LOG_WARN("client: no answer on the new path after %u pings: new handshake", paths_.pings());
      start_session();
      return;
  }
}

core::Task<void> Client::evaluate_on_demand(core::CancelToken stop) {
  if (cfg_.on_demand.empty() || on_demand_paused_) co_return;
  const ondemand::Network& net = paths_.network();
  OnDemandRound round(cfg_.on_demand, net);
  ondemand::Decision d = round.next();
  while (d.kind == ondemand::Decision::probe) {
    bool ok = co_await http_probe(loop_, d.url, stack_ ? 0 : cfg_.tunnel.fwmark, kProbeTimeoutMs, stop);
    if (stop.cancelled()) co_return;
    LOG_INFO("client: on-demand probe %s: %s", d.url.c_str(), ok ? "reachable" : "unreachable");
    round.probed(d.url, ok);
    d = round.next();
  }
  paths_.decided(d);
  if (on_demand_paused_) co_return;   // `ptun down` while a probe ran
  const char* what = d.kind == ondemand::Decision::connect      ? "connect"
                     : d.kind == ondemand::Decision::disconnect ? "disconnect"
                                                                : "keep";
  LOG_INFO("client: on-demand on %s (%s): rule %d -> %s", net.interface.empty() ? "no network" : net.interface.c_str(),
           ondemand::to_string(net.type), d.rule, what);
  if (d.kind == ondemand::Decision::connect) connect(Reason::on_demand);
  if (d.kind == ondemand::Decision::disconnect) disconnect(Reason::on_demand);
}

core::Task<void> Client::run_path(core::CancelToken stop) {
  bool first = true, forced = false;
  while (!stop.cancelled()) {
    core::CancelSource wake(stop);
    Path p = current_path();
    ondemand::Network n = current_network(p);
    if (first) {
      paths_.reset(p);   // the starting point, not a change
    } else {
      on_path(p);
    }
    check_overrides();
    if (paths_.network_seen(std::move(n), forced)) co_await evaluate_on_demand(stop);
    first = false;
    path_wake_ = &wake;
    // Not `c ? co_await a : co_await b`: g++ 12 frees a temporary of that twice (abort seen in
    // userspace mode, where no path monitor exists).
    Result<void> r;
    if (monitor_) r = co_await monitor_->wait_change(wake.token());
    else r = co_await core::sleep_for(loop_, 2000, wake.token());   // no monitor: poll
    path_wake_ = nullptr;
    forced = !r && !stop.cancelled();   // woken by reload or `ptun up`: run the rules again
  }
}

}  // namespace ptun::client
