// The server's userspace forwarding (forwarding = "userspace"): no TUN, no root, no kernel NAT.
// Packets from clients end here instead of in a TUN, and each flow is relayed through an
// ordinary socket of the server process:
//
//   client SYN --> connect() upstream first --ok--> SYN into lwIP (accept-any) --> TcpConn
//                                  '--refused--> TCP reset to the client    relay_streams <--> HostTcp
//   client UDP --> one connected HostUdp per (client addr:port, dst addr:port) --> replies built
//                  with packet::build_udp
//   echo request --> a ping socket per (client, dst, id) (own addresses: answered here)
//
// Packets back to clients (lwIP's segments, built UDP and ICMP replies) are read with
// read_batch(), exactly like a TUN's. Flows are capped per client address and in total; idle
// flows are closed (TCP with a reset). Fragments and other protocols are dropped and counted.
#pragma once
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/buffer_pool.hpp"
#include "core/core.hpp"
#include "forward/policy.hpp"
#include "netstack/byte_budget.hpp"
#include "packet/flow_key.hpp"
#include "tun/packet_device.hpp"

namespace ptun::netstack { class Netstack; class TcpConn; }

namespace ptun::forward {

struct ForwarderOptions {
  uint32_t mtu = 1420;                 // the tunnel MTU: replies larger than this are dropped
  uint32_t max_flows_per_client = 512;
  size_t max_tcp = 8192;               // lwIP connections at once, all clients
  size_t max_udp = 8192;               // UDP + ICMP flows (host sockets) at once
  uint64_t tcp_idle_ms = 1800000, udp_idle_ms = 60000, icmp_idle_ms = 30000;
  uint64_t connect_timeout_ms = 10000;
  // A connection whose client keeps a zero window this long (while data waits) is reset: it
  // pins its send buffer, and lwIP's persist timer never gives up on a peer that answers probes.
  uint64_t tcp_zero_window_ms = 120000;
  size_t client_buffer_bytes = 16u << 20;   // per client: lwIP buffers + relay buffers (byte_budget.hpp)
  std::vector<IpAddr> own;             // the server's tunnel addresses
  std::vector<Cidr> deny;              // [tunnel] userspace_deny (policy.hpp)
  size_t out_packets = 4096;           // built replies not yet read
};

struct ForwarderStats {
  uint64_t tcp_opened = 0, tcp_refused_upstream = 0, tcp_unreachable = 0, tcp_connect_timeouts = 0, tcp_idle_closed = 0;
  uint64_t tcp_zero_window_closed = 0;   // reset after userspace_tcp_zero_window_secs of zero window
  uint64_t udp_opened = 0, udp_idle_closed = 0, udp_reply_too_big = 0, udp_port_unreachable = 0;
  uint64_t echo_local = 0, echo_relayed = 0, echo_unavailable = 0;
  uint64_t refused_destination = 0, refused_client_limit = 0, refused_total_limit = 0;
  uint64_t refused_host = 0, refused_deny = 0;  // parts of refused_destination: a host address, the deny list
  uint64_t dropped_malformed = 0, dropped_fragment = 0, dropped_protocol = 0, out_dropped = 0;
};

class Forwarder final : public tun::CallbackDevice {
 public:
  // Errc::exists if an lwIP stack already runs in this process.
  static Result<std::unique_ptr<Forwarder>> create(core::Loop& loop, ForwarderOptions opts);
  ~Forwarder() override;

  // PacketDevice: write/write_batch take packets from clients; read_batch gives packets to them.
  const std::string& name() const override { return name_; }
  int fd() const override { return -1; }
  Result<size_t> read_batch(std::span<PacketBuf*> bufs) override;
  Result<size_t> write_batch(std::span<PacketBuf* const> pkts) override;
  Result<void> write(std::span<const uint8_t> pkt) override;
  tun::DeviceStats stats() const override { return dev_stats_; }

  // Called whenever packets for read_batch are waiting (possibly inside lwIP: only wake).
  void set_on_output(std::function<void()> cb) override;
  // lwIP's timers, the idle sweeper and every flow run inside this; packets written before it
  // starts or after it ends are dropped. Ends with every flow closed.
  core::Task<void> run(core::CancelToken stop);

  // Every address of the server host: refused as destinations (policy.hpp). Replaces the set.
  void set_host_addresses(std::span<const IpAddr> addrs) { policy_.set_host_addresses(addrs); }
  size_t host_address_count() const { return policy_.host_address_count(); }
  const ForwarderStats& forward_stats() const { return stats_; }
  size_t tcp_flows() const { return tcp_count_; }
  size_t udp_flows() const { return udp_count_; }
  size_t icmp_flows() const { return icmp_count_; }
  // Per-client memory budgets: refusals (new data refused, writes deferred) and bytes held now.
  const netstack::BudgetStats& budget_stats() const { return budgets_.stats(); }
  size_t budget_used() const { return budgets_.used(); }

  struct Flow;

 private:
  Forwarder(core::Loop& loop, ForwarderOptions opts);
  void handle(std::span<const uint8_t> pkt);
  void handle_tcp(std::span<const uint8_t> pkt, const packet::Parsed& p);
  void handle_udp(std::span<const uint8_t> pkt, const packet::Parsed& p);
  void handle_icmp(std::span<const uint8_t> pkt, const packet::Parsed& p);
  // Admission of a new flow: destination policy, per-client and total caps. Counts refusals.
  bool admit(const packet::Parsed& p, size_t in_use, size_t total_cap);
  Flow& add_flow(const packet::FlowKey& key, uint64_t idle_ms);
  // UDP and ping: p's flow, or a new one admitted for p, set up by attach (false: it could
  // not, and counted why) and run by `run`. nullptr when there is none.
  Flow* datagram_flow(const packet::Parsed& p, uint64_t idle_ms, core::Task<void> (Forwarder::*run)(Flow&),
                      const std::function<bool(Flow&)>& attach);
  void remove_flow(Flow& f);
  bool on_accept(std::unique_ptr<netstack::TcpConn>& conn);
  core::Task<void> run_tcp(Flow& f);
  core::Task<void> run_udp(Flow& f);
  core::Task<void> run_ping(Flow& f);
  core::Task<void> run_sweeper(core::CancelToken stop);
  // A packet to a client, built straight into a queue buffer: build(out, cap) returns its
  // length (0: nothing to send). One copy fewer than building elsewhere and queueing a copy.
  template <typename Build>
  void emit(Build&& build) {
    PacketBuf* b = out_.size() < opts_.out_packets ? out_pool_.get() : nullptr;
    if (!b) {
      ++stats_.out_dropped;
      return;
    }
    b->reset();
    b->len = build(b->data(), b->tailroom());
    if (b->len == 0) {
      out_pool_.put(b);
      return;
    }
    out_.push_back(b);
    wake();
  }
  void wake();

  core::Loop& loop_;
  ForwarderOptions opts_;
  std::string name_ = "userspace";
  std::unique_ptr<netstack::Netstack> stack_;
  core::TaskScope* scope_ = nullptr;   // set while run() runs
  netstack::BudgetTable budgets_;   // declared before flows_: outlives the connections
  std::unordered_map<packet::FlowKey, std::unique_ptr<Flow>, packet::FlowKeyHash> flows_;
  DestinationPolicy policy_;
  FlowCounter per_client_;
  size_t tcp_count_ = 0, udp_count_ = 0, icmp_count_ = 0;
  bool ping_unavailable_ = false;
  BufferPool out_pool_;
  std::deque<PacketBuf*> out_;
  std::function<void()> on_output_;
  tun::DeviceStats dev_stats_;
  ForwarderStats stats_;
};

}  // namespace ptun::forward
