// Kernel TUN: opening with the offload negotiation, configuration, and the I/O without a
// virtio-net header (one syscall per packet). The offload I/O is in tun_vnet_linux.cpp.
#include "tun/tun_linux.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include <cerrno>
#include <cstring>

#include "common/limits.hpp"
#include "common/log.hpp"
#include "offload/vnet_hdr.hpp"
#include "tun/tun_errors.hpp"

namespace ptun::tun {

namespace {

// IPv6 installs an address's local route from a workqueue after the link comes up (even with
// IFA_F_NODAD), so for a few milliseconds packets to the address are dropped (Ip6InAddrErrors).
// Wait until the kernel routes every address locally, so configure() returns a usable interface.
constexpr int kAddrReadyPolls = 200;
constexpr useconds_t kAddrReadyPollUs = 5000;  // 200 x 5 ms = 1 s at most

void wait_addresses_local(netlink::Rtnl& nl, const std::vector<Cidr>& addrs) {
  for (const Cidr& a : addrs) {
    bool local = false;
    for (int i = 0; i < kAddrReadyPolls && !local; ++i) {
      auto r = nl.route_get(a.addr);
      local = r.ok() && r->type == RTN_LOCAL;
      if (!local) usleep(kAddrReadyPollUs);
    }
    if (!local) LOG_WARN("tun: %s not yet routed locally after 1 s; continuing", a.str().c_str());
  }
}

// TUNSETIFF on a fresh fd; the fd (or an error) and the interface name the kernel settled on.
Result<int> attach(const TunOptions& opts, bool vnet, std::string* name) {
  int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return tun_error("open /dev/net/tun", e, e == ENOENT || e == ENODEV ? Errc::unsupported : Errc::io);
  }
  ifreq ifr{};
  ifr.ifr_flags = short(IFF_TUN | IFF_NO_PI | (opts.multi_queue ? IFF_MULTI_QUEUE : 0) |
                        (vnet ? IFF_VNET_HDR : 0));
  std::memcpy(ifr.ifr_name, opts.name.data(), opts.name.size());
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    ::close(fd);
    std::string what = "TUNSETIFF " + opts.name;
    switch (e) {
      case EBUSY:
        return tun_error(what + " (TUN in use by another process)", e, Errc::exists);
      case EINVAL:
        return tun_error(what + " (bad name, or an interface of that name that is not a " +
                             (opts.multi_queue ? "multi-queue" : "single-queue") + " TUN)",
                         e, Errc::invalid_argument);
      case EPERM:
        return tun_error(what + " (needs CAP_NET_ADMIN or ownership of the TUN)", e);
      default:
        return tun_error(what, e);
    }
  }
  *name = std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  return fd;
}

// USO flags are newer than Debian 12's <linux/if_tun.h> (Linux 6.2).
constexpr unsigned kTunFUso4 = 0x20;
constexpr unsigned kTunFUso6 = 0x40;

// The best offload set the kernel accepts on a virtio-net-header fd; none if even the checksum
// offload is refused (or the header size cannot be set).
OffloadMode negotiate_offloads(int fd) {
  int hdr = int(offload::kVnetHdrLen);
  if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) return OffloadMode::none;
  const struct {
    unsigned flags;
    OffloadMode mode;
  } tries[] = {
      {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | kTunFUso4 | kTunFUso6, OffloadMode::tso_uso},
      {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, OffloadMode::tso},
      {TUN_F_CSUM, OffloadMode::csum},
  };
  for (const auto& t : tries) {
    if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)t.flags) == 0) return t.mode;
  }
  return OffloadMode::none;
}

}  // namespace

const char* to_string(OffloadMode m) {
  switch (m) {
    case OffloadMode::none: return "none";
    case OffloadMode::csum: return "csum";
    case OffloadMode::tso: return "csum+tso";
    case OffloadMode::tso_uso: return "csum+tso+uso";
  }
  return "?";
}

Result<std::unique_ptr<TunDevice>> TunDevice::open(const TunOptions& opts) {
  if (opts.name.size() >= IFNAMSIZ)
    return Error(Errc::invalid_argument, "TUN name '" + opts.name + "' longer than 15 bytes");
  std::string name;
  auto fd = attach(opts, opts.offload, &name);
  if (!fd.ok()) return fd.error();
  OffloadMode mode = OffloadMode::none;
  if (opts.offload) {
    mode = negotiate_offloads(*fd);
    if (mode == OffloadMode::none) {
      // A header the kernel fills with nothing useful: start over without it.
      ::close(*fd);
      fd = attach(opts, false, &name);
      if (!fd.ok()) return fd.error();
    }
    LOG_INFO("tun: %s offloads: %s", name.c_str(), to_string(mode));
  }
  if (mode == OffloadMode::none) {
    // A persistent TUN may keep the offloads an earlier owner set; without a virtio-net header
    // the kernel must not hand over super-packets.
    (void)ioctl(*fd, TUNSETOFFLOAD, 0UL);
  }
  unsigned index = if_nametoindex(name.c_str());
  if (index == 0) {
    int e = errno;
    ::close(*fd);
    return tun_error("ifindex of " + name, e);
  }
  return std::unique_ptr<TunDevice>(new TunDevice(*fd, std::move(name), int(index), mode));
}

Result<size_t> TunDevice::read_batch(std::span<PacketBuf*> bufs) {
  // Each read either fills a slot or drops something; bound the reads so one call cannot spin
  // for long on garbage.
  const size_t max_reads = rx_idle_.touch() ? 1 : 2 * bufs.size();
  if (vnet_) return read_batch_vnet(bufs, max_reads);
  size_t n = 0;
  for (size_t reads = 0; n < bufs.size() && reads < max_reads; ++reads) {
    PacketBuf* b = bufs[n];
    b->reset();
    const size_t room = b->cap - b->off;
    ssize_t got = ::read(fd_, b->data(), room);
    if (got < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) break;
      if (n > 0) break;  // hand over what we have; the error repeats on the next call
      return tun_error("read " + name_, e, e == EBADFD ? Errc::closed : Errc::io);
    }
    ++stats_.rx_reads;
    // The kernel truncates silently to the buffer: a full buffer may be a cut packet.
    if (got == 0 || size_t(got) >= room) {
      ++stats_.rx_dropped;
      continue;
    }
    b->len = uint32_t(got);
    ++n;
  }
  stats_.rx_packets += n;
  return n;
}

DeviceStats TunDevice::stats() const {
  DeviceStats s = stats_;
  s.tx_packets = tx_stats_.packets.get();
  s.tx_rejected = tx_stats_.rejected.get();
  s.tx_gso = tx_stats_.gso.get();
  s.tx_coalesced = tx_stats_.coalesced.get();
  s.tx_writes = tx_stats_.writes.get();
  return s;
}

Result<size_t> TunDevice::write_batch(std::span<PacketBuf* const> pkts) {
  if (vnet_) return write_batch_vnet(pkts);
  size_t written = 0;
  size_t i = 0;
  while (i < pkts.size()) {
    ssize_t r = ::write(fd_, pkts[i]->data(), pkts[i]->len);
    if (r >= 0) {
      ++tx_stats_.writes;
      ++written;
      ++i;
      continue;
    }
    int e = errno;
    if (e == EINTR) continue;  // same packet again
    if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) break;
    if (per_packet_error(e)) {
      ++tx_stats_.rejected;
      ++i;
      continue;
    }
    if (written > 0) break;
    return tun_error("write " + name_, e, e == EBADFD ? Errc::closed : Errc::io);
  }
  tx_stats_.packets += written;
  return written;
}

Result<void> TunDevice::write(std::span<const uint8_t> pkt) {
  if (vnet_) return write_vnet(pkt);
  for (;;) {
    ssize_t r = ::write(fd_, pkt.data(), pkt.size());
    if (r >= 0) {
      ++tx_stats_.writes;
      ++tx_stats_.packets;
      return ok();
    }
    int e = errno;
    if (e == EINTR) continue;
    if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS)
      return Error(Errc::would_block, "write " + name_ + ": queue full");
    if (per_packet_error(e)) ++tx_stats_.rejected;
    return tun_error("write " + name_, e,
                     e == EBADFD ? Errc::closed
                                 : e == EINVAL || e == EMSGSIZE ? Errc::invalid_argument : Errc::io);
  }
}

Result<void> TunDevice::configure(netlink::Rtnl& nl, uint32_t mtu, const std::vector<Cidr>& addrs) {
  if (mtu < limits::kMinTunMtu || mtu > limits::kMaxTunMtu)
    return Error(Errc::invalid_argument, "TUN MTU " + std::to_string(mtu) + " outside " +
                                             std::to_string(limits::kMinTunMtu) + ".." +
                                             std::to_string(limits::kMaxTunMtu));
  // MTU first: IPv6 is switched off on a link whose MTU is below 1280.
  if (auto r = nl.link_set_mtu(ifindex_, mtu); !r) return r;
  for (const Cidr& a : addrs) {
    auto r = nl.addr_add(ifindex_, a);
    if (!r && r.error().code != Errc::exists) return r;  // a re-attached persistent TUN keeps its
  }
  if (auto r = nl.link_set_up(ifindex_, true); !r) return r;
  wait_addresses_local(nl, addrs);
  return ok();
}

}  // namespace ptun::tun
