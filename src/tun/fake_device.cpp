#include "tun/fake_device.hpp"

#include <cstring>

#include "common/limits.hpp"

namespace ptun::tun {

namespace {
Error closed_error(const std::string& name) { return Error(Errc::closed, name + ": device closed"); }
}  // namespace

FakeDevice::FakeDevice(std::string name, size_t inbound_capacity)
    : name_(std::move(name)), inbound_capacity_(inbound_capacity) {}

bool FakeDevice::push_inbound(std::span<const uint8_t> pkt) {
  if (pkt.empty() || pkt.size() > limits::kMaxDatagram || inbound_.size() >= inbound_capacity_)
    return false;
  inbound_.emplace_back(pkt.begin(), pkt.end());
  if (on_inbound_) on_inbound_();
  return true;
}

Result<size_t> FakeDevice::read_batch(std::span<PacketBuf*> bufs) {
  if (closed_) return closed_error(name_);
  size_t n = 0;
  while (n < bufs.size() && !inbound_.empty()) {
    std::vector<uint8_t> pkt = std::move(inbound_.front());
    inbound_.pop_front();
    PacketBuf* b = bufs[n];
    b->reset();
    if (pkt.size() >= b->cap - b->off) {  // the kernel TUN would have truncated it
      ++stats_.rx_dropped;
      continue;
    }
    std::memcpy(b->data(), pkt.data(), pkt.size());
    b->len = uint32_t(pkt.size());
    ++n;
  }
  stats_.rx_packets += n;
  return n;
}

bool FakeDevice::take_budget() {
  if (!write_budget_) return true;
  if (*write_budget_ == 0) return false;
  --*write_budget_;
  return true;
}

void FakeDevice::deliver(std::span<const uint8_t> pkt) {
  ++stats_.tx_packets;
  if (on_written_)
    on_written_(pkt);
  else
    written_.emplace_back(pkt.begin(), pkt.end());
}

Result<size_t> FakeDevice::write_batch(std::span<PacketBuf* const> pkts) {
  if (closed_) return closed_error(name_);
  size_t n = 0;
  for (PacketBuf* p : pkts) {
    if (p->len == 0) {  // the kernel refuses an empty packet on its own
      ++stats_.tx_rejected;
      continue;
    }
    if (!take_budget()) break;
    deliver(p->span());
    ++n;
  }
  return n;
}

Result<void> FakeDevice::write(std::span<const uint8_t> pkt) {
  if (closed_) return closed_error(name_);
  if (pkt.empty()) {
    ++stats_.tx_rejected;
    return Error(Errc::invalid_argument, name_ + ": empty packet");
  }
  if (!take_budget()) return Error(Errc::would_block, name_ + ": queue full");
  deliver(pkt);
  return ok();
}

std::vector<std::vector<uint8_t>> FakeDevice::take_written() {
  std::vector<std::vector<uint8_t>> out;
  out.swap(written_);
  return out;
}

}  // namespace ptun::tun
