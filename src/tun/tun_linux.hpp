// The Linux kernel TUN device (/dev/net/tun, IFF_TUN | IFF_NO_PI): one queue, one read(2) or
// write(2) per packet, non-blocking, close-on-exec.
//
// Attaching: open() issues TUNSETIFF with the name. If no interface has that name, a new TUN is
// created and disappears again when this object closes its fd. If a TUN with that name already
// exists (for instance one made persistent by "ip tuntap add mode tun NAME", possibly owned by
// the user ptun runs as), open() attaches to it and it survives ptun; its flags are switched to
// IFF_NO_PI. An existing interface that is not a TUN, a TAP, or a single-queue TUN another
// process holds open is an error (see open()).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "netlink/rtnl.hpp"
#include "tun/packet_device.hpp"

namespace ptun::tun {

struct TunOptions {
  std::string name = "ptun0";  // at most 15 bytes; empty = the kernel picks "tunN"
  // IFF_MULTI_QUEUE: lets more queues attach later (one fd per queue). Only the first queue is
  // opened today; a multi-queue TUN cannot be attached by a single-queue open and vice versa.
  bool multi_queue = false;
};

class TunDevice final : public PacketDevice {
 public:
  // Errors: invalid_argument (name too long or invalid, or an existing interface that is not a
  // TUN of the same queue mode), exists (a TUN of that name is held open by another process),
  // unsupported (no /dev/net/tun), io (no CAP_NET_ADMIN / not the owner, other failures).
  static Result<std::unique_ptr<TunDevice>> open(const TunOptions& opts);
  ~TunDevice() override;
  TunDevice(const TunDevice&) = delete;
  TunDevice& operator=(const TunDevice&) = delete;

  const std::string& name() const override { return name_; }
  int fd() const override { return fd_; }
  int ifindex() const { return ifindex_; }

  Result<size_t> read_batch(std::span<PacketBuf*> bufs) override;
  Result<size_t> write_batch(std::span<PacketBuf* const> pkts) override;
  Result<void> write(std::span<const uint8_t> pkt) override;
  DeviceStats stats() const override { return stats_; }

  // Sets the MTU (limits::kMinTunMtu..kMaxTunMtu, else invalid_argument), adds each address
  // (with its prefix: "10.200.0.1/24" also installs the connected route; addresses already
  // present are fine), brings the link up, and then waits (blocking, up to 1 s; a few ms in
  // practice) until the kernel routes every address locally: IPv6 does that asynchronously, and
  // until then packets written to the TUN for that address are dropped. A wait that runs out is
  // logged, not an error. Other errors come from Rtnl.
  Result<void> configure(netlink::Rtnl& nl, uint32_t mtu, const std::vector<Cidr>& addrs);

 private:
  TunDevice(int fd, std::string name, int ifindex) : fd_(fd), name_(std::move(name)), ifindex_(ifindex) {}

  int fd_;
  std::string name_;
  int ifindex_;
  DeviceStats stats_;
};

}  // namespace ptun::tun
