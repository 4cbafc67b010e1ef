#include "server/lease_writer.hpp"

#include "common/log.hpp"

namespace ptun::server {

LeaseWriter::LeaseWriter(LeaseStore store, int64_t granularity_s)
    : store_(std::move(store)), granularity_s_(granularity_s), worker_([this] { run(); }) {}

LeaseWriter::~LeaseWriter() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

bool LeaseWriter::differs(const Leases& last, const Leases& next, int64_t granularity_s) {
  if (last.size() != next.size()) return true;
  for (auto a = last.begin(), b = next.begin(); a != last.end(); ++a, ++b) {
    if (a->first != b->first || a->second.ipv4 != b->second.ipv4 || a->second.ipv6 != b->second.ipv6) return true;
    int64_t moved = b->second.last_seen - a->second.last_seen;
    if (moved >= granularity_s || moved < 0) return true;
  }
  return false;
}

bool LeaseWriter::submit(const Leases& leases) {
  if (have_last_ && !differs(last_submitted_, leases, granularity_s_)) {
    ++skipped_;
    return false;
  }
  last_submitted_ = leases;
  have_last_ = true;
  {
    std::lock_guard lk(mu_);
    pending_ = leases;   // a snapshot still queued is replaced: only the newest matters
  }
  cv_.notify_one();
  return true;
}

Result<void> LeaseWriter::flush(const Leases& leases) {
  last_submitted_ = leases;
  have_last_ = true;
  std::unique_lock lk(mu_);
  pending_ = leases;
  cv_.notify_one();
  done_cv_.wait(lk, [this] { return !pending_ && !writing_; });
  return last_result_;
}

uint64_t LeaseWriter::writes() const {
  std::lock_guard lk(mu_);
  return writes_;
}

uint64_t LeaseWriter::skipped() const { return skipped_; }

void LeaseWriter::run() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [this] { return pending_ || stop_; });
    if (!pending_) return;   // stopping with nothing left to write
    Leases snap = std::move(*pending_);
    pending_.reset();
    writing_ = true;
    lk.unlock();
    Result<void> r = store_.save(snap);
    if (!r) LOG_WARN("server: %s", r.error().message.c_str());
    lk.lock();
    writing_ = false;
    ++writes_;
    last_result_ = r;
    if (!pending_) done_cv_.notify_all();
  }
}

}  // namespace ptun::server
