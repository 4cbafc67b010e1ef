#include "embed/inbox.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace ptun::embed {

Inbox::Inbox() : efd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (efd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

Inbox::~Inbox() { ::close(efd_); }

std::unique_ptr<Job> Inbox::post(std::unique_ptr<Job> j) {
  {
    std::lock_guard lk(mu_);
    if (closed_) return j;
    q_.push_back(std::move(j));
  }
  uint64_t one = 1;   // cannot fail short of 2^64 - 1 pending wake-ups
  (void)!::write(efd_, &one, sizeof one);
  return nullptr;
}

std::vector<std::unique_ptr<Job>> Inbox::take() {
  uint64_t n;
  (void)!::read(efd_, &n, sizeof n);   // EAGAIN: a wake-up already consumed; the queue decides
  std::lock_guard lk(mu_);
  std::vector<std::unique_ptr<Job>> out;
  for (auto& j : q_) out.push_back(std::move(j));
  q_.clear();
  return out;
}

std::vector<std::unique_ptr<Job>> Inbox::close(std::string why) {
  std::lock_guard lk(mu_);
  closed_ = true;
  why_ = std::move(why);
  std::vector<std::unique_ptr<Job>> out;
  for (auto& j : q_) out.push_back(std::move(j));
  q_.clear();
  return out;
}

bool Inbox::closed() const {
  std::lock_guard lk(mu_);
  return closed_;
}

std::string Inbox::why() const {
  std::lock_guard lk(mu_);
  return why_;
}

}  // namespace ptun::embed
