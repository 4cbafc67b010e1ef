// Was something left alone for a while? Each touch() says whether the previous one was at least
// `idle_ns` ago (the first one is), by CLOCK_MONOTONIC_COARSE: read through the vDSO, a few ns,
// no system call, ticks of 1-4 ms. For the first use after a pause, which differs from a flowing
// one: caches gone cold (tls::HybridAead), or a queue that holds one packet (tun::TunDevice).
// One thread at a time.
#pragma once
#include <time.h>

#include <cstdint>

namespace ptun {

inline uint64_t coarse_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

class IdleGate {
 public:
  using Clock = uint64_t (*)();   // nanoseconds
  explicit IdleGate(uint64_t idle_ns) : idle_ns_(idle_ns) {}
  bool touch() {
    const uint64_t now = clock_(), last = last_ns_;
    last_ns_ = now;
    return now - last >= idle_ns_;
  }
  void set_clock_for_test(Clock c) { clock_ = c; }

 private:
  uint64_t idle_ns_;
  Clock clock_ = coarse_now_ns;
  uint64_t last_ns_ = 0;
};

}  // namespace ptun
