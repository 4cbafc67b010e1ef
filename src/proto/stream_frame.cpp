#include "proto/stream_frame.hpp"

#include <algorithm>

namespace ptun::proto {

bool append_frame(std::vector<uint8_t>& out, std::span<const uint8_t> datagram) {
  if (datagram.empty() || datagram.size() > kMaxStreamFrame) return false;
  out.push_back(uint8_t(datagram.size() >> 8));
  out.push_back(uint8_t(datagram.size() & 0xff));
  out.insert(out.end(), datagram.begin(), datagram.end());
  return true;
}

Deframer::Status Deframer::fail(Status s) {
  dead_ = s;
  if (s == Status::bad_preamble) ++st_.bad_preamble;
  if (s == Status::bad_length) ++st_.bad_length;
  return s;
}

size_t Deframer::need() const {
  if (want_preamble_) return kStreamPreambleSize;
  return in_body_ ? body_len_ : kFrameHeaderSize;
}

bool Deframer::unit_done() {
  if (want_preamble_) {
    have_ = 0;
    if (!std::equal(kStreamPreamble.begin(), kStreamPreamble.end(), buf_.begin())) {
      fail(Status::bad_preamble);
      return false;
    }
    want_preamble_ = false;
    return true;
  }
  if (in_body_) {
    in_body_ = false;
    have_ = 0;
    return true;
  }
  size_t len = size_t(buf_[0]) << 8 | buf_[1];
  have_ = 0;
  if (len == 0 || len > max_ || len > kMaxStreamFrame) {
    fail(Status::bad_length);
    return false;
  }
  in_body_ = true;
  body_len_ = len;
  return true;
}

}  // namespace ptun::proto
