// Bounds-checked big-endian readers and writers for the wire codecs. Every read checks the
// remaining length first; a failed read or write latches `ok() == false` and leaves the output
// untouched, so a decoder can do a run of reads and check once at the end.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace ptun::proto {

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> in) : p_(in.data()), n_(in.size()) {}
  bool ok() const { return ok_; }
  size_t remaining() const { return n_ - pos_; }
  bool empty() const { return pos_ == n_; }

  bool u8(uint8_t* v) {
    if (!need(1)) return false;
    *v = p_[pos_++];
    return true;
  }
  bool u16(uint16_t* v) {
    if (!need(2)) return false;
    *v = uint16_t((p_[pos_] << 8) | p_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(uint32_t* v) {
    if (!need(4)) return false;
    uint32_t x = 0;
    for (int i = 0; i < 4; ++i) x = (x << 8) | p_[pos_ + i];
    *v = x;
    pos_ += 4;
    return true;
  }
  bool u64(uint64_t* v) {
    if (!need(8)) return false;
    uint64_t x = 0;
    for (int i = 0; i < 8; ++i) x = (x << 8) | p_[pos_ + i];
    *v = x;
    pos_ += 8;
    return true;
  }
  // A view of the next `len` bytes (no copy).
  bool bytes(size_t len, std::span<const uint8_t>* v) {
    if (!need(len)) return false;
    *v = {p_ + pos_, len};
    pos_ += len;
    return true;
  }
  std::span<const uint8_t> rest() const { return {p_ + pos_, n_ - pos_}; }

 private:
  bool need(size_t len) {
    if (!ok_ || len > n_ - pos_) {
      ok_ = false;
      return false;
    }
    return true;
  }
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  bool ok_ = true;
};

class ByteWriter {
 public:
  explicit ByteWriter(std::span<uint8_t> out) : p_(out.data()), cap_(out.size()) {}
  bool ok() const { return ok_; }
  size_t size() const { return pos_; }
  size_t remaining() const { return cap_ - pos_; }

  void u8(uint8_t v) {
    if (need(1)) p_[pos_++] = v;
  }
  void u16(uint16_t v) {
    if (!need(2)) return;
    p_[pos_++] = uint8_t(v >> 8);
    p_[pos_++] = uint8_t(v);
  }
  void u32(uint32_t v) {
    if (!need(4)) return;
    for (int i = 3; i >= 0; --i) p_[pos_++] = uint8_t(v >> (8 * i));
  }
  void u64(uint64_t v) {
    if (!need(8)) return;
    for (int i = 7; i >= 0; --i) p_[pos_++] = uint8_t(v >> (8 * i));
  }
  void bytes(const void* src, size_t len) {
    if (!need(len)) return;
    if (len) std::memcpy(p_ + pos_, src, len);
    pos_ += len;
  }
  // One TLV: u8 type, u16 length, value.
  void tlv(uint8_t type, const void* value, size_t len) {
    if (len > 0xffff) {
      ok_ = false;
      return;
    }
    if (!need(3 + len)) return;
    u8(type);
    u16(uint16_t(len));
    bytes(value, len);
  }

 private:
  bool need(size_t len) {
    if (!ok_ || len > cap_ - pos_) {
      ok_ = false;
      return false;
    }
    return true;
  }
  uint8_t* p_;
  size_t cap_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace ptun::proto
