#include "client/server_list.hpp"

#include <algorithm>

namespace ptun::client {

namespace {
constexpr uint32_t kSingleServerTimeoutMs = 30000;
constexpr uint32_t kFirstRoundTimeoutMs = 5000;
}  // namespace

void ServerList::set_addresses(size_t n) {
  address_ = 0;
  addresses_ = n;
}

ServerList::Step ServerList::on_failure(bool refused) {
  ++attempts_in_round_;
  if (refused) ++refused_in_round_;
  if (address_ + 1 < addresses_) {
    ++address_;
    return {current_, false, true, false};
  }
  current_ = (current_ + 1) % count_;
  address_ = 0;
  addresses_ = 1;   // until the next server's name resolves
  bool wrapped = current_ == round_start_;
  bool all_refused = false;
  if (wrapped) {
    if (failed_rounds_ < UINT32_MAX) ++failed_rounds_;
    all_refused = refused_in_round_ == attempts_in_round_;
    attempts_in_round_ = refused_in_round_ = 0;
  }
  return {current_, wrapped, false, all_refused};
}

void ServerList::new_round() {
  failed_rounds_ = 0;
  address_ = 0;
  addresses_ = 1;
  attempts_in_round_ = refused_in_round_ = 0;
}

void ServerList::on_established() {
  last_good_ = round_start_ = current_;
  new_round();
}

void ServerList::restart() {
  current_ = round_start_ = last_good_;
  new_round();
}

void ServerList::reset(size_t count) {
  count_ = std::max<size_t>(count, 1);
  current_ = last_good_ = round_start_ = 0;
  new_round();
}

uint32_t ServerList::handshake_timeout_ms() const {
  // One server at one address: nothing to fail over to, the session's own timeout.
  if (count_ == 1 && addresses_ <= 1) return kSingleServerTimeoutMs;
  uint64_t t = uint64_t(kFirstRoundTimeoutMs) << std::min<uint32_t>(failed_rounds_, 3);
  return uint32_t(std::min<uint64_t>(t, kSingleServerTimeoutMs));
}

}  // namespace ptun::client
