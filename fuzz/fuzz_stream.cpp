// libFuzzer: the TCP transport's deframer (proto/stream_frame.hpp) on arbitrary streams, fed in
// pieces whose sizes the input's first byte chooses. Properties: the frames (and the final
// status) do not depend on how the stream is split; every frame is 1..kMaxStreamFrame bytes and
// re-frames to the bytes it came from; nothing reads out of bounds (ASan).
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "proto/stream_frame.hpp"

using namespace ptun::proto;

namespace {
void require(bool c) {
  if (!c) __builtin_trap();
}

struct Run {
  std::vector<uint8_t> reframed;  // every frame, re-encoded
  Deframer::Status status = Deframer::Status::ok;
  size_t frames = 0, pending = 0;
};

Run run(std::span<const uint8_t> stream, bool preamble, size_t chunk) {
  Run r;
  Deframer d(preamble);
  for (size_t off = 0; off < stream.size() && r.status == Deframer::Status::ok; off += chunk) {
    size_t n = std::min(chunk, stream.size() - off);
    r.status = d.feed(stream.subspan(off, n), [&](std::span<uint8_t> f) {
      require(!f.empty() && f.size() <= kMaxStreamFrame);
      require(append_frame(r.reframed, f));
      ++r.frames;
    });
  }
  r.pending = d.pending();
  require(d.stats().frames == r.frames);
  return r;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  bool preamble = data[0] & 0x80;
  size_t chunk = size_t(data[0] & 0x7f) + 1;
  std::span<const uint8_t> stream(data + 1, size - 1);
  Run whole = run(stream, preamble, stream.size() ? stream.size() : 1);
  Run split = run(stream, preamble, chunk);
  require(whole.status == split.status && whole.frames == split.frames && whole.reframed == split.reframed);
  if (whole.status == Deframer::Status::ok) {
    // Everything consumed: the preamble (once complete), then the frames, which re-encode to the
    // stream, then the incomplete tail.
    size_t skip = preamble && stream.size() >= kStreamPreambleSize ? kStreamPreambleSize : 0;
    require(skip + whole.reframed.size() + whole.pending == stream.size());
    require(std::equal(whole.reframed.begin(), whole.reframed.end(), stream.begin() + std::ptrdiff_t(skip)));
  }
  return 0;
}
