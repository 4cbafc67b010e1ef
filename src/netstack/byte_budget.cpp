#include "netstack/byte_budget.hpp"

namespace ptun::netstack {

bool ByteBudget::try_charge(size_t n) {
  if (n > room()) {
    ++refused_;
    if (stats_) {
      ++stats_->refused;
      stats_->refused_bytes += n;
    }
    return false;
  }
  used_ += n;
  return true;
}

std::shared_ptr<ByteBudget> BudgetTable::get(const IpAddr& client) {
  auto& slot = table_[client];
  if (auto b = slot.lock()) return b;
  auto b = std::make_shared<ByteBudget>(limit_, &stats_);
  slot = b;
  return b;
}

size_t BudgetTable::prune() {
  for (auto it = table_.begin(); it != table_.end();) {
    if (it->second.expired()) it = table_.erase(it);
    else ++it;
  }
  return table_.size();
}

size_t BudgetTable::used() const {
  size_t n = 0;
  for (const auto& [addr, w] : table_)
    if (auto b = w.lock()) n += b->used();
  return n;
}

}  // namespace ptun::netstack
