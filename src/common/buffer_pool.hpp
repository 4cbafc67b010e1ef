// A preallocated pool of fixed-size packet buffers with headroom, so the data path never
// allocates per packet and outer headers are written in place in front of the payload.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <memory>
#include <span>
#include <vector>

#include "common/limits.hpp"

namespace ptun {

// One packet in a pool buffer: bytes [off, off+len) of base[0, cap).
struct PacketBuf {
  uint8_t* base = nullptr;
  uint32_t cap = 0;
  uint32_t off = 0;
  uint32_t len = 0;

  uint8_t* data() { return base + off; }
  const uint8_t* data() const { return base + off; }
  std::span<uint8_t> span() { return {base + off, len}; }
  std::span<const uint8_t> span() const { return {base + off, len}; }
  size_t tailroom() const { return cap - off - len; }
  // Reset to empty with the standard headroom.
  void reset(uint32_t headroom = limits::kHeadroom) { off = headroom; len = 0; }
  // Grow the packet at the front by n bytes (n <= off); returns the new start.
  uint8_t* push_front(uint32_t n) { off -= n; len += n; return base + off; }
  void pull_front(uint32_t n) { off += n; len -= n; }
};

class BufferPool {
 public:
  // `count` buffers of `size` bytes each, allocated once.
  explicit BufferPool(size_t count, size_t size = limits::kPacketBufSize)
      : storage_(new uint8_t[count * size]), bufs_(count) {
    free_.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      bufs_[i].base = storage_.get() + i * size;
      bufs_[i].cap = uint32_t(size);
      bufs_[i].reset();
      free_.push_back(&bufs_[i]);
    }
  }
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // A buffer reset to the standard headroom, or nullptr when the pool is exhausted
  // (callers drop the packet and count it: the pool bounds memory).
  PacketBuf* get() {
    if (free_.empty()) return nullptr;
    PacketBuf* b = free_.back();
    free_.pop_back();
    b->reset();
    return b;
  }
  void put(PacketBuf* b) { free_.push_back(b); }
  // A buffer holding a copy of `bytes` after the standard headroom, or nullptr when the pool is
  // exhausted or the bytes do not fit (callers drop and count).
  PacketBuf* copy(std::span<const uint8_t> bytes) {
    PacketBuf* b = get();
    if (!b) return nullptr;
    if (bytes.size() > b->tailroom()) {
      put(b);
      return nullptr;
    }
    std::memcpy(b->data(), bytes.data(), bytes.size());
    b->len = uint32_t(bytes.size());
    return b;
  }
  size_t available() const { return free_.size(); }
  size_t capacity() const { return bufs_.size(); }

 private:
  std::unique_ptr<uint8_t[]> storage_;
  std::vector<PacketBuf> bufs_;
  std::vector<PacketBuf*> free_;
};

// Packets waiting to leave in one batch (TUN write batch, sendmmsg), each in a pool buffer.
// `Item` is PacketBuf* or a struct with a `buf` member (core::Datagram). The owner flushes when
// full() and at the end of every receive batch; flush_with() hands the batch to the device and
// returns every buffer to the pool.
template <typename Item>
class TxQueue {
 public:
  explicit TxQueue(BufferPool& pool) : pool_(pool) { q_.reserve(limits::kBatch); }
  TxQueue(const TxQueue&) = delete;
  TxQueue& operator=(const TxQueue&) = delete;
  ~TxQueue() { release(); }
  bool full() const { return q_.size() >= limits::kBatch; }
  bool empty() const { return q_.empty(); }
  size_t size() const { return q_.size(); }
  void push(Item it) { q_.push_back(it); }
  std::span<Item> items() { return q_; }
  // Moves every queued item to out[0..size()) and empties the queue without returning buffers to
  // the pool: they now belong to whoever holds `out` (the pipeline's tx thread). `out` has room
  // for kBatch items.
  size_t take_into(Item* out) {
    const size_t n = q_.size();
    std::copy(q_.begin(), q_.end(), out);
    q_.clear();
    return n;
  }
  // `send(span<Item>)` returns how many items the device took; the rest count as dropped.
  template <typename Send>
  size_t flush_with(Send&& send, size_t* dropped) {
    if (q_.empty()) return 0;
    size_t taken = std::min(send(std::span<Item>(q_)), q_.size());
    *dropped += q_.size() - taken;
    release();
    return taken;
  }

 private:
  static PacketBuf* buf_of(PacketBuf* b) { return b; }
  template <typename T>
  static PacketBuf* buf_of(const T& t) { return t.buf; }
  void release() {
    for (auto& it : q_) pool_.put(buf_of(it));
    q_.clear();
  }
  BufferPool& pool_;
  std::vector<Item> q_;
};

}  // namespace ptun
