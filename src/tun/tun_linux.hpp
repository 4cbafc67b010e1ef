// The Linux kernel TUN device (/dev/net/tun, IFF_TUN | IFF_NO_PI): one queue, non-blocking,
// close-on-exec.
//
// Offloads (TunOptions::offload, the default): the TUN is opened with IFF_VNET_HDR and told
// (TUNSETOFFLOAD) that ptun takes unchecksummed packets and TCP (and, on Linux >= 6.2, UDP)
// super-packets of up to 64 KiB. One read(2) then brings a whole TSO burst, which read_batch
// splits into MTU-sized packets (src/offload/segment.hpp); write_batch merges in-order TCP
// segments of a flow into super-packets, one writev(2) each (src/offload/coalesce.hpp). Callers
// see the same one-IP-packet-per-buffer contract either way. Where the kernel refuses a flag the
// device falls back (without USO, then checksum only, then no virtio-net header at all).
//
// Attaching: open() issues TUNSETIFF with the name. If no interface has that name, a new TUN is
// created and disappears again when this object closes its fd. If a TUN with that name already
// exists (for instance one made persistent by "ip tuntap add mode tun NAME", possibly owned by
// the user ptun runs as), open() attaches to it and it survives ptun; its flags are switched to
// IFF_NO_PI. An existing interface that is not a TUN, a TAP, or a single-queue TUN another
// process holds open is an error (see open()).
#pragma once
#include <sys/uio.h>

#include <memory>
#include <string>
#include <vector>

#include "netlink/rtnl.hpp"
#include "common/idle_gate.hpp"
#include "common/relaxed_counter.hpp"
#include "tun/packet_device.hpp"

namespace ptun::tun {

struct TunOptions {
  std::string name = "ptun0";  // at most 15 bytes; empty = the kernel picks "tunN"
  // IFF_MULTI_QUEUE: lets more queues attach later (one fd per queue). Only the first queue is
  // opened today; a multi-queue TUN cannot be attached by a single-queue open and vice versa.
  bool multi_queue = false;
  // IFF_VNET_HDR with checksum/TSO/USO offloads where the kernel has them (see above).
  bool offload = true;
};

// What the kernel accepted, best first.
enum class OffloadMode : uint8_t {
  none,     // no virtio-net header: one packet per read/write
  csum,     // checksum offload only
  tso,      // + TSO4/TSO6
  tso_uso,  // + USO4/USO6 (Linux >= 6.2)
};
const char* to_string(OffloadMode);

struct VnetState;  // tun_vnet_linux.cpp: scratch buffer, segmenter, coalescer

class TunDevice final : public PacketDevice {
 public:
  // Errors: invalid_argument (name too long or invalid, or an existing interface that is not a
  // TUN of the same queue mode), exists (a TUN of that name is held open by another process),
  // unsupported (no /dev/net/tun), io (no CAP_NET_ADMIN / not the owner, other failures).
  // With offload, TUNSETOFFLOAD refusals are fallen back from (logged once at info level), never
  // errors.
  static Result<std::unique_ptr<TunDevice>> open(const TunOptions& opts);
  ~TunDevice() override;
  TunDevice(const TunDevice&) = delete;
  TunDevice& operator=(const TunDevice&) = delete;

  const std::string& name() const override { return name_; }
  int fd() const override { return fd_; }
  int ifindex() const { return ifindex_; }
  OffloadMode offload_mode() const { return mode_; }

  // Reads until the queue is empty or `bufs` is full, except after an idle spell (kIdleNs since
  // the previous call): then one read(2) only. A TUN fd tells nothing cheaper than a read that
  // fails with EAGAIN about an empty queue, and the first packet after a pause is usually alone
  // (a ping, a DNS query, a keystroke): the caller goes back to its level-triggered poll, which
  // returns at once if more is queued (then the next call reads a whole batch). That saves one
  // system call per wake-up of an idle tunnel, two per round trip through it.
  Result<size_t> read_batch(std::span<PacketBuf*> bufs) override;
  static constexpr uint64_t kIdleNs = 2'000'000;
  void set_clock_for_test(IdleGate::Clock c) { rx_idle_.set_clock_for_test(c); }
  Result<size_t> write_batch(std::span<PacketBuf* const> pkts) override;
  Result<void> write(std::span<const uint8_t> pkt) override;
  DeviceStats stats() const override;
  // Writes may come from the pipeline's tx thread (one writer at a time; reads stay on the loop).
  bool thread_safe_writes() const override { return true; }

  // Sets the MTU (limits::kMinTunMtu..kMaxTunMtu, else invalid_argument), adds each address
  // (with its prefix: "10.200.0.1/24" also installs the connected route; addresses already
  // present are fine), brings the link up, and then waits (blocking, up to 1 s; a few ms in
  // practice) until the kernel routes every address locally: IPv6 does that asynchronously, and
  // until then packets written to the TUN for that address are dropped. A wait that runs out is
  // logged, not an error. Other errors come from Rtnl.
  Result<void> configure(netlink::Rtnl& nl, uint32_t mtu, const std::vector<Cidr>& addrs);

 private:
  TunDevice(int fd, std::string name, int ifindex, OffloadMode mode);
  // The paths with a virtio-net header (tun_vnet_linux.cpp).
  Result<size_t> read_batch_vnet(std::span<PacketBuf*> bufs, size_t max_reads);
  Result<size_t> write_batch_vnet(std::span<PacketBuf* const> pkts);
  Result<void> write_vnet(std::span<const uint8_t> pkt);
  // One writev of a whole packet or super-packet, EINTR retried: 0 or errno.
  int writev_all(std::span<const iovec> iov);

  int fd_;
  std::string name_;
  int ifindex_;
  OffloadMode mode_;
  std::unique_ptr<VnetState> vnet_;  // null without a virtio-net header
  DeviceStats stats_;                // the receive side's (reader's thread)
  IdleGate rx_idle_{kIdleNs};        // reader's thread
  struct TxStats {                   // the transmit side's (the writer's thread, read by stats())
    RelaxedCounter packets, rejected, gso, coalesced, writes;
  } tx_stats_;
};

}  // namespace ptun::tun
