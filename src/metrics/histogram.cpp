#include "metrics/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace ptun::metrics {

Histogram::Histogram(std::vector<double> upper_bounds) {
  for (double b : upper_bounds)
    if (std::isfinite(b) && (bounds_.empty() || b > bounds_.back())) bounds_.push_back(b);
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double v) {
  if (std::isnan(v)) return;
  size_t i = size_t(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  ++counts_[i];
  ++count_;
  sum_ += v;
}

}  // namespace ptun::metrics
