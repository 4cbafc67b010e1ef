// The TCP transport's framing (docs/protocol.md §7), sans-I/O: the datagrams of the UDP transport
// (outer header + DTLS records, unchanged) carried over a TCP stream, each behind a 2-byte length.
//
//   stream := preamble frame*        preamble := "ptun" 0x01 0x00 0x00 0x00 (8 bytes, client first)
//   frame  := u16 length (big endian, 1..kMaxStreamFrame) | length bytes (one datagram)
//
// The deframer owns no socket: bytes in (any split), whole datagrams out. A wrong preamble, a
// length of 0 or above the cap ends the stream (the caller closes the connection and counts it);
// a stream that ends inside a frame leaves it counted as truncated.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ptun::proto {

inline constexpr size_t kStreamPreambleSize = 8;
inline constexpr std::array<uint8_t, kStreamPreambleSize> kStreamPreamble = {'p', 't', 'u', 'n', 1, 0, 0, 0};
// Largest datagram a frame carries: the UDP transport's largest (limits::kMaxDatagram is 1984).
inline constexpr size_t kMaxStreamFrame = 2048;
inline constexpr size_t kFrameHeaderSize = 2;

// Appends one frame (length + datagram) to `out`. False (nothing appended) if the datagram is
// empty or larger than kMaxStreamFrame.
bool append_frame(std::vector<uint8_t>& out, std::span<const uint8_t> datagram);

struct DeframerStats {
  uint64_t frames = 0, bytes = 0;
  uint64_t bad_preamble = 0;  // the stream did not start with kStreamPreamble
  uint64_t bad_length = 0;    // a frame length of 0 or above the cap
};

class Deframer {
 public:
  enum class Status { ok, bad_preamble, bad_length };
  // `expect_preamble`: the server side (the client's stream starts with it); the client's
  // deframer reads frames from the first byte.
  explicit Deframer(bool expect_preamble, size_t max_frame = kMaxStreamFrame)
      : want_preamble_(expect_preamble), max_(max_frame) {}

  // Consumes `bytes`, calling on_frame(std::span<uint8_t>) for each whole frame (the span lives
  // until the callback returns; the callback may modify it, e.g. open records in place). After a
  // status other than ok the stream is dead: every later feed returns the same status.
  template <class F>
  Status feed(std::span<const uint8_t> bytes, F&& on_frame);

  // Bytes of an incomplete frame (or preamble) held: > 0 when the stream ended means truncated.
  size_t pending() const { return have_ + (in_body_ ? kFrameHeaderSize : 0); }
  // True while a frame (or the preamble) has begun but not completed: the caller's per-frame
  // deadline (slow senders) runs only then.
  bool mid_frame() const { return pending() > 0; }
  const DeframerStats& stats() const { return st_; }

 private:
  Status fail(Status s);
  // How many more bytes the current unit (preamble, header or body) needs.
  size_t need() const;
  // The current unit is complete: advance; returns false on a bad preamble or length.
  bool unit_done();

  bool want_preamble_;
  size_t max_;
  Status dead_ = Status::ok;
  bool in_body_ = false;
  size_t body_len_ = 0;
  size_t have_ = 0;  // bytes of the current unit in buf_
  std::array<uint8_t, kMaxStreamFrame + kStreamPreambleSize> buf_{};
  DeframerStats st_;
};

template <class F>
Deframer::Status Deframer::feed(std::span<const uint8_t> bytes, F&& on_frame) {
  while (dead_ == Status::ok && !bytes.empty()) {
    size_t take = std::min(need() - have_, bytes.size());
    std::copy(bytes.begin(), bytes.begin() + std::ptrdiff_t(take), buf_.begin() + std::ptrdiff_t(have_));
    have_ += take;
    bytes = bytes.subspan(take);
    if (have_ < need()) break;
    bool body = in_body_;
    size_t len = body_len_;
    if (!unit_done()) break;
    if (body) {
      ++st_.frames;
      st_.bytes += len;
      on_frame(std::span<uint8_t>(buf_.data(), len));
    }
  }
  return dead_;
}

}  // namespace ptun::proto
