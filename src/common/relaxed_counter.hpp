// A statistics counter written by one thread at a time and read by any: the data path's transmit
// calls may run on the pipeline's tx thread (datapath/tx_thread.hpp) while status reads the
// counters on the loop's thread. Relaxed atomics, and no locked instruction for the writer
// (a load and a store: there is one writer at a time, handed over with a release/acquire pair).
#pragma once
#include <atomic>
#include <cstdint>

namespace ptun {

class RelaxedCounter {
 public:
  void add(uint64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  RelaxedCounter& operator++() {
    add(1);
    return *this;
  }
  RelaxedCounter& operator+=(uint64_t n) {
    add(n);
    return *this;
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

}  // namespace ptun
