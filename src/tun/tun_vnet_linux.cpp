// Kernel TUN I/O with a virtio-net header (IFF_VNET_HDR, TunOptions::offload):
//
//   read   readv -> [vnet header][caller's buffer][scratch after the buffer's share]
//          a plain packet lands in the caller's buffer (its checksum completed if the kernel
//          left it undone); a super-packet is made contiguous in the scratch and split into the
//          caller's buffers; segments beyond them wait in the Segmenter for the next call
//   write  the Coalescer groups the batch; one writev per group: [vnet header + headers]
//          [payload 1]...[payload n], or [zero header][packet] for a packet alone
//
// One super-packet at most waits between calls (the scratch holds it), so the queue is bounded
// by construction and the caller's drain loop (call until fewer than asked) empties it.
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/log.hpp"
#include "offload/coalesce.hpp"
#include "offload/segment.hpp"
#include "tun/tun_errors.hpp"
#include "tun/tun_linux.hpp"

namespace ptun::tun {

namespace {
// What one read may bring after the header: a 64 KiB super-packet (IPv6: 40 + 65535) with room
// to spare, so a read that fills the whole vector is known to be cut and dropped.
constexpr size_t kScratch = 65536 + 256;

bool queue_full(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS; }
}  // namespace

struct VnetState {
  std::unique_ptr<uint8_t[]> scratch{new uint8_t[kScratch]};
  offload::Segmenter seg;
  offload::Coalescer co;
  uint8_t hdr[offload::kVnetHdrLen] = {};
  uint8_t zero_hdr[offload::kVnetHdrLen] = {};
  bool warned_refused = false;
};

TunDevice::TunDevice(int fd, std::string name, int ifindex, OffloadMode mode)
    : fd_(fd), name_(std::move(name)), ifindex_(ifindex), mode_(mode) {
  if (mode != OffloadMode::none) vnet_ = std::make_unique<VnetState>();
}

TunDevice::~TunDevice() { ::close(fd_); }

Result<size_t> TunDevice::read_batch_vnet(std::span<PacketBuf*> bufs, size_t max_reads) {
  VnetState& v = *vnet_;
  size_t n = 0;
  size_t reads = 0;   // each fills a slot, starts a super-packet or drops something
  while (n < bufs.size()) {
    if (!v.seg.done()) {
      size_t left = v.seg.remaining();
      if (v.seg.next(bufs[n])) {
        ++n;
      } else {
        stats_.rx_dropped += left;  // a buffer smaller than the first one: the rest is lost
      }
      continue;
    }
    if (reads++ >= max_reads) break;
    PacketBuf* b = bufs[n];
    b->reset();
    const size_t room = std::min<size_t>(b->cap - b->off, kScratch / 2);
    iovec iov[3] = {{v.hdr, offload::kVnetHdrLen},
                    {b->data(), room},
                    {v.scratch.get() + room, kScratch - room}};
    ssize_t got = ::readv(fd_, iov, 3);
    if (got < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) break;
      if (n > 0) break;  // hand over what we have; the error repeats on the next call
      return tun_error("read " + name_, e, e == EBADFD ? Errc::closed : Errc::io);
    }
    ++stats_.rx_reads;
    if (size_t(got) <= offload::kVnetHdrLen || size_t(got) >= offload::kVnetHdrLen + kScratch) {
      ++stats_.rx_dropped;  // empty, or cut to the vector
      continue;
    }
    const size_t len = size_t(got) - offload::kVnetHdrLen;
    offload::VnetHdr h;
    offload::decode_vnet_hdr(v.hdr, &h);
    if ((h.gso_type & ~offload::kGsoEcn) == offload::kGsoNone) {
      // One packet, in place. Longer than the buffer: it spilled into the scratch; dropped as
      // without offloads.
      if (len > room || offload::complete_checksum(h, {b->data(), len}) != offload::SegStatus::ok) {
        ++stats_.rx_dropped;
        continue;
      }
      b->len = uint32_t(len);
      ++n;
      continue;
    }
    // The first `room` bytes went to the caller's buffer: move them in front of the rest.
    std::memcpy(v.scratch.get(), b->data(), std::min(len, room));
    if (v.seg.start(h, {v.scratch.get(), len}, room) != offload::SegStatus::ok) {
      ++stats_.rx_dropped;
      continue;
    }
    ++stats_.rx_gso;
  }
  stats_.rx_packets += n;
  return n;
}

int TunDevice::writev_all(std::span<const iovec> iov) {
  for (;;) {
    if (::writev(fd_, iov.data(), int(iov.size())) >= 0) {
      ++tx_stats_.writes;
      return 0;
    }
    if (errno != EINTR) return errno;
  }
}

Result<size_t> TunDevice::write_batch_vnet(std::span<PacketBuf* const> pkts) {
  VnetState& v = *vnet_;
  size_t written = 0;
  int fatal = 0;  // an errno that is neither "queue full" nor about one packet
  bool stop = false;
  // Writes one packet alone; false ends the batch.
  auto single = [&](const PacketBuf* p) {
    int e = writev_all(v.co.build_single(p));
    if (e == 0) {
      ++written;
    } else if (per_packet_error(e)) {
      ++tx_stats_.rejected;
    } else {
      if (!queue_full(e)) fatal = e;
      return false;
    }
    return true;
  };
  for (size_t i = 0; i < pkts.size() && !stop;) {
    const size_t planned = v.co.plan(pkts.subspan(i));
    for (size_t g = 0; g < v.co.groups() && !stop; ++g) {
      const size_t k = v.co.group_size(g);
      if (k == 1) {
        stop = !single(v.co.member(g, 0));
        continue;
      }
      int e = writev_all(v.co.build(g));
      if (e == 0) {
        written += k;
        ++tx_stats_.gso;
        tx_stats_.coalesced += k;
      } else if (per_packet_error(e)) {
        // The kernel refused the super-packet: its segments alone, each judged on its own.
        if (!v.warned_refused) {
          v.warned_refused = true;
          LOG_WARN("tun: %s refused a coalesced super-packet (%s); writing its segments singly",
                   name_.c_str(), std::strerror(e));
        }
        for (size_t m = 0; m < k && !stop; ++m) stop = !single(v.co.member(g, m));
      } else {
        if (!queue_full(e)) fatal = e;
        stop = true;
      }
    }
    i += planned;
  }
  tx_stats_.packets += written;
  if (fatal && written == 0)
    return tun_error("write " + name_, fatal, fatal == EBADFD ? Errc::closed : Errc::io);
  return written;
}

Result<void> TunDevice::write_vnet(std::span<const uint8_t> pkt) {
  iovec iov[2] = {{vnet_->zero_hdr, offload::kVnetHdrLen},
                  {const_cast<uint8_t*>(pkt.data()), pkt.size()}};
  int e = writev_all(iov);
  if (e == 0) {
    ++tx_stats_.packets;
    return ok();
  }
  if (queue_full(e)) return Error(Errc::would_block, "write " + name_ + ": queue full");
  if (per_packet_error(e)) ++tx_stats_.rejected;
  return tun_error("write " + name_, e,
                   e == EBADFD ? Errc::closed
                               : e == EINVAL || e == EMSGSIZE ? Errc::invalid_argument : Errc::io);
}

}  // namespace ptun::tun
