#include "client/server_list.hpp"

#include <algorithm>

namespace ptun::client {

namespace {
constexpr uint32_t kSingleServerTimeoutMs = 30000;
constexpr uint32_t kFirstRoundTimeoutMs = 5000;
}  // namespace

ServerList::Step ServerList::on_failure() {
  current_ = (current_ + 1) % count_;
  bool wrapped = current_ == round_start_;
  if (wrapped && failed_rounds_ < UINT32_MAX) ++failed_rounds_;
  return {current_, wrapped};
}

void ServerList::on_established() {
  last_good_ = round_start_ = current_;
  failed_rounds_ = 0;
}

void ServerList::restart() {
  current_ = round_start_ = last_good_;
  failed_rounds_ = 0;
}

void ServerList::reset(size_t count) {
  count_ = std::max<size_t>(count, 1);
  current_ = last_good_ = round_start_ = 0;
  failed_rounds_ = 0;
}

uint32_t ServerList::handshake_timeout_ms() const {
  if (count_ == 1) return kSingleServerTimeoutMs;
  uint64_t t = uint64_t(kFirstRoundTimeoutMs) << std::min<uint32_t>(failed_rounds_, 3);
  return uint32_t(std::min<uint64_t>(t, kSingleServerTimeoutMs));
}

}  // namespace ptun::client
