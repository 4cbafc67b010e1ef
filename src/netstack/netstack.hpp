// The embedded lwIP stack as a packet device: the tunnel's end in userspace mode.
//
//   session --deliver--> write()/write_batch() --packet::parse--> lwIP ip_input --> TCP/UDP pcbs
//   session <--read_batch()-- outbound queue <--netif output-- lwIP (segments, ACKs, ICMP)
//
// lwIP is compiled with NO_SYS=1 and LWIP_SINGLE_NETIF: there is one stack per process, driven
// only from the loop thread. Its timers run on one core::Timer that sleeps until
// sys_timeouts_sleeptime() (run_timers). Packets only reach lwIP after ptun's own parser accepted
// them (lwIP 2.1.3 over-reads truncated IPv6 extension headers). Callbacks from lwIP never do I/O:
// output packets are copied into a bounded queue and the reader is woken through on_output.
#pragma once
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/buffer_pool.hpp"
#include "common/net_addr.hpp"
#include "core/core.hpp"
#include "packet/parse.hpp"
#include "tun/packet_device.hpp"

struct netif;
struct pbuf;

namespace ptun::netstack {

class TcpConn;

struct NetstackOptions {
  uint32_t mtu = 1400;
  size_t max_tcp = 1024;       // TCP connections (pcbs) at once; beyond: Errc::limit
  size_t max_udp = 512;        // UDP sockets at once
  size_t outbound_packets = 2048;  // queue of packets lwIP produced and nobody read yet
};

struct NetstackStats {
  uint64_t in_packets = 0, in_rejected = 0, out_packets = 0, out_dropped = 0;
  uint64_t tcp_refused_limit = 0, udp_refused_limit = 0;
};

class Netstack final : public tun::CallbackDevice {
 public:
  // Errc::exists if another Netstack lives in this process (lwIP has global state).
  static Result<std::unique_ptr<Netstack>> create(core::Loop& loop, NetstackOptions opts = {});
  ~Netstack() override;
  Netstack(const Netstack&) = delete;
  Netstack& operator=(const Netstack&) = delete;

  // Sets (or clears, with nullopt) the stack's own addresses and the MTU; brings the netif up.
  void configure(std::optional<Cidr> v4, std::optional<Cidr> v6, uint32_t mtu);
  std::optional<IpAddr> address(Family f) const;
  uint32_t mtu() const { return opts_.mtu; }

  // PacketDevice. read_batch returns packets lwIP wants to send (into the tunnel); write and
  // write_batch feed packets from the tunnel into lwIP (invalid ones are counted and skipped).
  const std::string& name() const override { return name_; }
  int fd() const override { return -1; }
  Result<size_t> read_batch(std::span<PacketBuf*> bufs) override;
  Result<size_t> write_batch(std::span<PacketBuf* const> pkts) override;
  Result<void> write(std::span<const uint8_t> pkt) override;
  // For a caller that has already parsed pkt (the forwarder): no second parse. p must be
  // packet::parse()'s ok result for pkt.
  Result<void> write_parsed(std::span<const uint8_t> pkt, const packet::Parsed& p);
  tun::DeviceStats stats() const override { return dev_stats_; }
  const NetstackStats& netstack_stats() const { return stats_; }
  size_t outbound_pending() const { return out_.size(); }

  // Called (from inside lwIP, so: only wake someone) whenever a packet was queued for read_batch.
  void set_on_output(std::function<void()> cb) override { on_output_ = std::move(cb); }

  // Server mode ("accept any"): TCP segments to any destination are terminated here, as
  // tun2socks tools do. Just before lwIP sees a TCP packet, the netif's address field is set to
  // the packet's destination (directly: netif_set_ipaddr would abort every pcb bound to the old
  // address); accepted pcbs keep that destination as their local address. A SYN only reaches
  // lwIP after listen_port() for its port (the forwarder first connects upstream). Completed
  // handshakes go to on_accept (called inside lwIP: it must only queue and wake), which takes
  // the connection (returns true) or leaves it, and lwIP then resets it.
  void enable_accept_any(std::function<bool(std::unique_ptr<TcpConn>&)> on_accept);
  // A listener on ANY:port (both families), created once per port.
  Result<void> listen_port(uint16_t port);
  size_t listener_count() const { return listeners_.size(); }

  // Drives lwIP's timers until `stop`. Must run while the stack is in use.
  core::Task<void> run_timers(core::CancelToken stop);
  // Re-evaluates the timer deadline (after new timeouts were registered, e.g. a new connection).
  void poke_timers();

  // Connection accounting for the caps (used by TcpConn / UdpConn).
  bool acquire_tcp();
  void release_tcp() { --tcp_count_; }
  bool acquire_udp();
  void release_udp() { --udp_count_; }
  size_t tcp_count() const { return tcp_count_; }
  core::Loop& loop() { return loop_; }

  static Netstack* instance() { return instance_; }

 private:
  Netstack(core::Loop& loop, NetstackOptions opts);
  void queue_output(struct pbuf* p);
  Result<void> input(std::span<const uint8_t> pkt);
  Result<void> input_parsed(std::span<const uint8_t> pkt, const packet::Parsed& p);

  static Netstack* instance_;
  core::Loop& loop_;
  NetstackOptions opts_;
  std::string name_ = "lwip";
  std::unique_ptr<struct netif> netif_;
  BufferPool pool_;
  std::deque<PacketBuf*> out_;
  std::function<void()> on_output_;
  std::unique_ptr<core::Timer> timer_;
  bool timer_idle_ = true;   // sleeping with no lwIP timeout pending: poke on new activity
  size_t tcp_count_ = 0, udp_count_ = 0;
  bool accept_any_ = false;
  std::function<bool(std::unique_ptr<TcpConn>&)> on_accept_;
  std::unordered_map<uint16_t, void*> listeners_;   // port -> tcp_pcb (listen)
  tun::DeviceStats dev_stats_;
  NetstackStats stats_;
  friend struct NetifGlue;
  friend struct AcceptGlue;
};

// lwIP address conversions.
void to_lwip(const IpAddr& a, void* ip_addr_t_out);
IpAddr from_lwip(const void* ip_addr_t_in);

}  // namespace ptun::netstack
