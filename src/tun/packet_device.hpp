// The batch-shaped packet device seam between the data path and where IP packets enter and leave
// the host: the kernel TUN (tun_linux.hpp), an in-memory fake for tests (fake_device.hpp), and
// later an lwIP netif (userspace mode) or a multi-queue TUN, all without changing callers.
// Devices are single-threaded: one owner calls read/write.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "common/buffer_pool.hpp"
#include "common/result.hpp"

namespace ptun::tun {

// Counters a device keeps about packets it handled itself. Packets a caller could not write
// because the device was full (write_batch returned fewer) are the caller's to count.
struct DeviceStats {
  uint64_t rx_packets = 0;   // handed to the caller by read_batch
  uint64_t rx_dropped = 0;   // read but dropped: larger than the caller's buffer (truncated),
                             // or a malformed virtio-net header / super-packet
  uint64_t tx_packets = 0;   // accepted by write / write_batch
  uint64_t tx_rejected = 0;  // refused one by one (malformed, too big, link down); batch goes on
  // Offloads (a TUN with a virtio-net header); the packet counters above count segments.
  uint64_t rx_gso = 0;        // super-packets read and split into rx_packets
  uint64_t tx_gso = 0;        // super-packets written
  uint64_t tx_coalesced = 0;  // tx_packets that went out inside a super-packet
  uint64_t rx_reads = 0;      // read syscalls that returned bytes (TUN; syscalls per MB)
  uint64_t tx_writes = 0;     // write syscalls the kernel accepted (TUN)
};

class PacketDevice {
 public:
  virtual ~PacketDevice() = default;
  virtual const std::string& name() const = 0;
  // A pollable fd that becomes readable when read_batch has packets; -1 if there is none.
  virtual int fd() const = 0;
  // Non-blocking: reads up to bufs.size() packets. Each PacketBuf is reset() first, so a packet
  // starts at data() with limits::kHeadroom in front of it; len is set. Returns how many were
  // filled (0 when nothing is pending); drain by calling until it returns fewer than bufs.size().
  // Errc::closed if the device went away (interface deleted), Errc::io for other failures;
  // packets already read in the same call are returned first and the error comes on the next.
  virtual Result<size_t> read_batch(std::span<PacketBuf*> bufs) = 0;
  // Writes each packet; returns how many were accepted. A full queue (EAGAIN/ENOBUFS) ends the
  // batch early: the rest are the caller's to drop and count. A packet refused on its own is
  // counted in tx_rejected and skipped. Errc::closed / io only if nothing could be written.
  virtual Result<size_t> write_batch(std::span<PacketBuf* const> pkts) = 0;
  // True if write_batch may run on another thread than read_batch (one writer at a time, handed
  // over with release/acquire): the pipeline's tx thread then writes full batches. The kernel TUN
  // can; lwIP and the forwarder cannot (they run on the loop).
  virtual bool thread_safe_writes() const { return false; }
  // One packet: Errc::would_block if the queue is full, closed / io / invalid_argument otherwise.
  virtual Result<void> write(std::span<const uint8_t> pkt) = 0;
  virtual DeviceStats stats() const = 0;
};

// A device without an fd (the lwIP netstack, the server's userspace forwarder): it calls
// on_output when read_batch has packets, possibly from inside a library callback, so on_output
// must only wake someone (datapath::Pipeline's reader pokes a timer).
class CallbackDevice : public PacketDevice {
 public:
  virtual void set_on_output(std::function<void()> cb) = 0;
};

}  // namespace ptun::tun
