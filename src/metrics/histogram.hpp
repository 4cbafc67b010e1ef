// A Prometheus histogram, pure: fixed upper bounds chosen at construction, observations counted
// per bucket (not cumulative; Exposition::histogram adds them up), their sum and count.
#pragma once
#include <cstdint>
#include <vector>

namespace ptun::metrics {

class Histogram {
 public:
  // `upper_bounds`: finite and strictly increasing (others are dropped); +Inf is implicit.
  explicit Histogram(std::vector<double> upper_bounds);
  // NaN is ignored (it would poison _sum); a value equal to a bound falls into that bucket.
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // One count per bound, then the +Inf bucket: counts().size() == bounds().size() + 1.
  const std::vector<uint64_t>& counts() const { return counts_; }
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  double sum_ = 0;
};

// Handshake latency, seconds: a LAN handshake takes a few ms, one over a lossy mobile path a few
// seconds (DTLS retransmits after 1 s, 2 s, ...); the server gives up after 10 s.
inline std::vector<double> handshake_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

}  // namespace ptun::metrics
