// An in-memory PacketDevice for tests of other modules (as wireguard-go's tuntest): packets pushed
// with push_inbound() come out of read_batch(); packets written are collected, or handed to a
// callback so two fakes (or a fake and a simulator) can be wired together. Bounded like the real
// TUN: a full inbound queue drops, and a write budget imitates a full kernel queue.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tun/packet_device.hpp"

namespace ptun::tun {

class FakeDevice final : public CallbackDevice {
 public:
  // 500 is the kernel TUN's default queue length (txqueuelen).
  explicit FakeDevice(std::string name = "fake0", size_t inbound_capacity = 500);

  const std::string& name() const override { return name_; }
  int fd() const override { return -1; }
  Result<size_t> read_batch(std::span<PacketBuf*> bufs) override;
  Result<size_t> write_batch(std::span<PacketBuf* const> pkts) override;
  Result<void> write(std::span<const uint8_t> pkt) override;
  DeviceStats stats() const override { return stats_; }
  bool thread_safe_writes() const override { return thread_safe_writes_; }
  // Lets the pipeline's tx thread write (tests of it): the test reads written() only after the
  // pipeline is quiesced, as the real TUN's readers use only its atomic counters.
  void set_thread_safe_writes(bool on) { thread_safe_writes_ = on; }

  // Queues one packet (copied) for read_batch. False if the queue is full or the packet is
  // empty or larger than limits::kMaxDatagram (the packet is not queued).
  bool push_inbound(std::span<const uint8_t> pkt);
  size_t inbound_pending() const { return inbound_.size(); }
  // Called after every successful push_inbound, e.g. to wake the reader (fd() is -1).
  void set_on_inbound(std::function<void()> cb) { on_inbound_ = std::move(cb); }
  // CallbackDevice: the same hook, so a reader waits on it as on lwIP's netif.
  void set_on_output(std::function<void()> cb) override { on_inbound_ = std::move(cb); }

  // Written packets, oldest first (unless an on_written callback takes them).
  const std::vector<std::vector<uint8_t>>& written() const { return written_; }
  std::vector<std::vector<uint8_t>> take_written();
  // If set, each written packet goes to the callback instead of written().
  void set_on_written(std::function<void(std::span<const uint8_t>)> cb) { on_written_ = std::move(cb); }
  // Accept at most n more packets, then act as a full queue (write_batch stops early, write
  // returns Errc::would_block). std::nullopt (the default) = unlimited.
  void set_write_budget(std::optional<size_t> n) { write_budget_ = n; }
  // While closed, every call fails with Errc::closed (as a TUN whose interface was deleted).
  void set_closed(bool closed) { closed_ = closed; }

 private:
  bool take_budget();
  void deliver(std::span<const uint8_t> pkt);

  std::string name_;
  size_t inbound_capacity_;
  std::deque<std::vector<uint8_t>> inbound_;
  std::vector<std::vector<uint8_t>> written_;
  std::function<void()> on_inbound_;
  std::function<void(std::span<const uint8_t>)> on_written_;
  std::optional<size_t> write_budget_;
  bool thread_safe_writes_ = false;
  bool closed_ = false;
  DeviceStats stats_;
};

}  // namespace ptun::tun
