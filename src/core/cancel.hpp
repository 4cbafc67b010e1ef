// Cancellation, shaped like std::stop_source / stop_token but single-threaded and allocation-free
// per registration: CancelSource::cancel() runs every registered callback once, synchronously.
// Callbacks registered by ptun::core awaitables only stop their libuv handle and queue the
// awaiting coroutine on the loop's ready queue: nothing is resumed re-entrantly from cancel().
#pragma once
#include <memory>

namespace ptun::core {

namespace detail {
struct CancelNode {
  CancelNode* prev = nullptr;
  CancelNode* next = nullptr;
  void (*fn)(void* ctx) = nullptr;
  void* ctx = nullptr;
  bool linked() const { return next != nullptr; }
  void unlink() {
    if (!linked()) return;
    prev->next = next;
    next->prev = prev;
    prev = next = nullptr;
  }
};
struct CancelState;
}  // namespace detail

// A cheap copyable view of a CancelSource. A default-constructed token never cancels.
class CancelToken {
 public:
  CancelToken() = default;
  bool cancelled() const;
  bool can_cancel() const { return bool(state_); }

 private:
  friend class CancelSource;
  friend class CancelRegistration;
  explicit CancelToken(std::shared_ptr<detail::CancelState> s) : state_(std::move(s)) {}
  std::shared_ptr<detail::CancelState> state_;
};

class CancelSource {
 public:
  CancelSource();
  // A child source: cancelled when `parent` is cancelled (or by its own cancel()).
  explicit CancelSource(const CancelToken& parent);
  CancelSource(CancelSource&&) noexcept = default;
  CancelSource& operator=(CancelSource&&) noexcept = default;
  CancelSource(const CancelSource&) = delete;
  CancelSource& operator=(const CancelSource&) = delete;
  ~CancelSource() = default;

  // Idempotent: the first call runs every registered callback once, in registration order.
  void cancel();
  bool cancelled() const;
  CancelToken token() const { return CancelToken(state_); }

 private:
  std::shared_ptr<detail::CancelState> state_;
};

// Registers a callback on a token for as long as this object lives (or until disarm()).
// Not copyable or movable: it is linked into the token's list by address.
class CancelRegistration {
 public:
  CancelRegistration() = default;
  CancelRegistration(const CancelRegistration&) = delete;
  CancelRegistration& operator=(const CancelRegistration&) = delete;
  ~CancelRegistration() { disarm(); }

  // Arms fn(ctx) to run when `token` is cancelled. Returns false, registering nothing, if the
  // token is already cancelled (the caller completes with Errc::cancelled itself). A token that
  // can never cancel registers nothing and returns true. At most one registration at a time.
  bool arm(const CancelToken& token, void (*fn)(void*), void* ctx);
  // Unregisters (idempotent); after it returns the callback will not run.
  void disarm();
  bool armed() const { return node_.linked(); }

 private:
  detail::CancelNode node_;
  std::shared_ptr<detail::CancelState> state_;  // keeps the list head alive while linked
};

}  // namespace ptun::core
