// forwarding = "userspace": the server without a TUN, root or kernel NAT. Client packets go to
// forward::Forwarder (lwIP terminates TCP, sockets relay UDP and pings); it is the pipeline's
// device, so what it sends back takes the same path as packets read from a TUN (route to the
// session, MSS clamp, too-big check).
#include "server/server.hpp"

#include <algorithm>

#include "common/privileges.hpp"

namespace ptun::server {

Result<void> Server::setup_userspace_forwarding() {
  forward::ForwarderOptions o;
  o.mtu = cfg_.tunnel.mtu;
  o.max_flows_per_client = cfg_.tunnel.userspace_max_flows_per_client;
  o.tcp_idle_ms = uint64_t(cfg_.tunnel.userspace_tcp_idle_secs) * 1000;
  o.udp_idle_ms = uint64_t(cfg_.tunnel.userspace_udp_idle_secs) * 1000;
  o.tcp_zero_window_ms = uint64_t(cfg_.tunnel.userspace_tcp_zero_window_secs) * 1000;
  o.client_buffer_bytes = size_t(cfg_.tunnel.userspace_client_buffer_kib) * 1024;
  // Every relayed flow holds a descriptor: keep the caps within what the process may open.
  uint64_t fds = raise_fd_limit();
  size_t usable = fds > 256 ? size_t(fds - 256) : 64;
  o.max_tcp = std::min(o.max_tcp, usable / 2);
  o.max_udp = std::min(o.max_udp, usable / 2);
  LOG_INFO("server: userspace forwarding: up to %zu TCP and %zu UDP/ping flows (descriptor limit %llu)",
           o.max_tcp, o.max_udp, (unsigned long long)fds);
  if (auto a = peers_.server_v4()) o.own.push_back(a->addr);
  if (auto a = peers_.server_v6()) o.own.push_back(a->addr);
  o.deny = cfg_.tunnel.userspace_deny;
  auto f = forward::Forwarder::create(loop_, std::move(o));
  if (!f) return f.error();
  forwarder_ = std::move(*f);
  // The host's own addresses are refused from the first packet on: subscribe, then dump.
  auto watch = HostAddresses::open(loop_);
  if (!watch) return Error(watch.error().code, "userspace forwarding: " + watch.error().message);
  host_addrs_ = std::move(*watch);
  auto addrs = host_addrs_->current();
  if (!addrs) return Error(addrs.error().code, "userspace forwarding: host addresses: " + addrs.error().message);
  forwarder_->set_host_addresses(*addrs);
  LOG_INFO("server: userspace forwarding refuses the host's %zu addresses and %zu denied networks",
           addrs->size(), cfg_.tunnel.userspace_deny.size());
  dev_ = forwarder_.get();
  dp_.set_device(dev_);
  return {};
}

core::Task<void> Server::run_host_addresses(core::CancelToken stop) {
  for (;;) {
    auto changed = co_await host_addrs_->wait_change(stop);
    if (!changed) co_return;  // cancelled at shutdown
    auto addrs = host_addrs_->current();
    if (!addrs) {
      // Keep the last set (a dump failing is not a reason to allow more); the next change retries.
      LOG_WARN("server: host addresses: %s", addrs.error().message.c_str());
      continue;
    }
    forwarder_->set_host_addresses(*addrs);
    LOG_DEBUG("server: host addresses changed: %zu refused", addrs->size());
  }
}

nlohmann::json Server::forwarder_json() const {
  const auto& s = forwarder_->forward_stats();
  return {{"tcp_flows", forwarder_->tcp_flows()},
          {"udp_flows", forwarder_->udp_flows()},
          {"icmp_flows", forwarder_->icmp_flows()},
          {"tcp_opened", s.tcp_opened},
          {"tcp_refused_upstream", s.tcp_refused_upstream},
          {"tcp_unreachable", s.tcp_unreachable},
          {"tcp_connect_timeouts", s.tcp_connect_timeouts},
          {"tcp_idle_closed", s.tcp_idle_closed},
          {"tcp_zero_window_closed", s.tcp_zero_window_closed},
          {"budget_refused", forwarder_->budget_stats().refused},
          {"budget_refused_bytes", forwarder_->budget_stats().refused_bytes},
          {"budget_used_bytes", forwarder_->budget_used()},
          {"udp_opened", s.udp_opened},
          {"udp_idle_closed", s.udp_idle_closed},
          {"udp_reply_too_big", s.udp_reply_too_big},
          {"udp_port_unreachable", s.udp_port_unreachable},
          {"echo_local", s.echo_local},
          {"echo_relayed", s.echo_relayed},
          {"echo_unavailable", s.echo_unavailable},
          {"refused_destination", s.refused_destination},
          {"refused_host", s.refused_host},
          {"refused_deny", s.refused_deny},
          {"host_addresses", forwarder_->host_address_count()},
          {"refused_client_limit", s.refused_client_limit},
          {"refused_total_limit", s.refused_total_limit},
          {"dropped_malformed", s.dropped_malformed},
          {"dropped_fragment", s.dropped_fragment},
          {"dropped_protocol", s.dropped_protocol},
          {"out_dropped", s.out_dropped}};
}

}  // namespace ptun::server
