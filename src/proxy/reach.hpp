// Which destinations the tunnel may carry: the pushed (and locally added) included routes minus
// the excluded ones, most specific prefix winning, as the kernel's routing would decide in TUN
// mode. Pure code.
#pragma once
#include <vector>

#include "common/net_addr.hpp"

namespace ptun::proxy {

class Reach {
 public:
  Reach() = default;
  Reach(std::vector<Cidr> include, std::vector<Cidr> exclude)
      : include_(std::move(include)), exclude_(std::move(exclude)) {}
  // True if the longest included prefix containing `a` is longer than every excluded prefix
  // containing it (an equal-length exclude wins).
  bool allows(const IpAddr& a) const {
    int best_in = -1, best_ex = -1;
    for (const auto& c : include_)
      if (c.contains(a)) best_in = std::max(best_in, int(c.prefix));
    for (const auto& c : exclude_)
      if (c.contains(a)) best_ex = std::max(best_ex, int(c.prefix));
    return best_in >= 0 && best_in > best_ex;
  }

 private:
  std::vector<Cidr> include_, exclude_;
};

}  // namespace ptun::proxy
