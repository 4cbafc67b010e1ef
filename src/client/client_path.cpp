// Path monitoring, roaming and on-demand rules for the client.
//
//   rtnetlink event --settle--> current_path() (route to the server with ptun's fwmark: interface,
//   source, gateway) --changed?--> roam(): rebind the UDP socket (same fwmark, new port), PING
//   at once; the server moves the session on that authenticated datagram (docs/protocol.md §6)
//   and its PONG confirms -> connected again, same session id. No PONG after kRoamPings pings ->
//   a new handshake (the old session may be unusable from this network).
//   on-demand: current_network() -> ondemand::evaluate (probes run here) -> connect/disconnect.
#include <fstream>
#include <sstream>

#include "client/client.hpp"
#include "client/http_probe.hpp"
#include "netlink/rtnl.hpp"

namespace ptun::client {
namespace {

constexpr uint32_t kRoamPings = 3;          // one per kRoamPingMs, then a new handshake
constexpr uint64_t kRoamPingMs = 1000;
constexpr uint64_t kProbeTimeoutMs = 3000;
constexpr int kMaxProbesPerEvaluation = 16;  // rules * 2 at most, bounded anyway

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

Client::Path Client::current_path() {
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

void Client::on_path(const Path& p) {
  if (p == path_) return;
  Path old = path_;
  path_ = p;
  ++path_changes_;
  now_ = loop_.now_ms();
  LOG_INFO("client: path to %s: %s%s%s -> %s%s%s", server_ep_.addr.str().c_str(),
           old.ifindex ? old.ifname.c_str() : "none", old.source ? " src " : "",
           old.source ? old.source->str().c_str() : "", p.ifindex ? p.ifname.c_str() : "none",
           p.source ? " src " : "", p.source ? p.source->str().c_str() : "");
  if (!want_up_) return;
  if (!p.ifindex) {
    // No route: nothing to send on. Keep the session (it may survive a short outage) and say so.
    roaming_ = false;
    roam_deadline_ = UINT64_MAX;
    transition(State::reasserting, Reason::network_change, "no route to the server");
    return;
  }
  if (session_ && !session_ended_ && session_->state() == proto::ClientSession::State::established) {
    roam();
  } else if (reconnect_at_ != UINT64_MAX) {
    // Waiting to reconnect: a network that just appeared is worth trying at once, from the
    // server that worked last.
    attempt_ = 0;
    servers_.restart();
    reconnect_at_ = now_;
    poke_timer();
  } else if (session_ && !session_ended_) {
    // Mid-handshake on the old path: start over from the new one.
    if (auto r = sock_->rebind(Endpoint{sock_->local_endpoint().addr, 0}); !r)
      LOG_WARN("client: rebind: %s", r.error().message.c_str());
    start_session();
  }
}

void Client::roam() {
  now_ = loop_.now_ms();
  transition(State::reasserting, Reason::network_change, "path changed, moving the session");
  // A new port (and the kernel's new source address): the 5-tuple changes, the session id stays.
  auto r = sock_->rebind(Endpoint{sock_->local_endpoint().addr, 0});
  if (!r) {
    LOG_WARN("client: cannot rebind the UDP socket (%s): new handshake", r.error().message.c_str());
    ++roam_failures_;
    start_session();
    return;
  }
  LOG_INFO("client: roaming: socket now %s, session %016llx", sock_->local_endpoint().str().c_str(),
           (unsigned long long)session_->session_id());
  roaming_ = true;
  roam_started_ms_ = now_;
  roam_pongs_mark_ = session_->stats().pongs_received;
  roam_pings_ = 1;
  roam_deadline_ = now_ + kRoamPingMs;
  session_->on_path_changed(now_);
  flush();
  poke_timer();
}

bool Client::roam_confirmed() const {
  return roaming_ && session_ && !session_ended_ && session_->stats().pongs_received > roam_pongs_mark_;
}

void Client::roam_timer() {
  now_ = loop_.now_ms();
  if (roam_confirmed()) {
    roaming_ = false;
    roam_deadline_ = UINT64_MAX;
    ++roams_;
    transition(State::connected, Reason::roamed,
               "same session over " + (path_.ifname.empty() ? std::string("?") : path_.ifname));
    return;
  }
  if (!roaming_ || now_ < roam_deadline_) return;
  if (!session_ || session_ended_ || session_->state() != proto::ClientSession::State::established) {
    roaming_ = false;
    roam_deadline_ = UINT64_MAX;
    return;
  }
  if (roam_pings_ < kRoamPings) {
    ++roam_pings_;
    roam_deadline_ = now_ + kRoamPingMs;
    session_->on_path_changed(now_);
    flush();
    return;
  }
  LOG_WARN("client: no answer on the new path after %u pings: new handshake", roam_pings_);
  roaming_ = false;
  roam_deadline_ = UINT64_MAX;
  ++roam_failures_;
  start_session();
}

core::Task<void> Client::evaluate_on_demand(core::CancelToken stop) {
  if (cfg_.on_demand.empty() || on_demand_paused_) co_return;
  ondemand::ProbeResults probes;
  ondemand::Decision d;
  for (int i = 0; i <= kMaxProbesPerEvaluation; ++i) {
    d = ondemand::evaluate(cfg_.on_demand, network_, probes);
    if (d.kind != ondemand::Decision::probe) break;
    if (i == kMaxProbesPerEvaluation) {
      d = {ondemand::Decision::keep, -1, {}};
      break;
    }
    bool ok = co_await http_probe(loop_, d.url, stack_ ? 0 : cfg_.tunnel.fwmark, kProbeTimeoutMs, stop);
    if (stop.cancelled()) co_return;
    LOG_INFO("client: on-demand probe %s: %s", d.url.c_str(), ok ? "reachable" : "unreachable");
    probes[d.url] = ok;
  }
  decision_ = d;
  if (on_demand_paused_) co_return;   // `ptun down` while a probe ran
  const char* what = d.kind == ondemand::Decision::connect      ? "connect"
                     : d.kind == ondemand::Decision::disconnect ? "disconnect"
                                                                : "keep";
  LOG_INFO("client: on-demand on %s (%s): rule %d -> %s", network_.interface.empty() ? "no network" : network_.interface.c_str(),
           ondemand::to_string(network_.type), d.rule, what);
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
      path_ = p;   // the starting point, not a change
    } else {
      on_path(p);
    }
    check_overrides();
    if (first || forced || !(n == network_)) {
      network_ = std::move(n);
      co_await evaluate_on_demand(stop);
    }
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
