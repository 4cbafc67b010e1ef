#include "core/cancel.hpp"

namespace ptun::core {

namespace detail {
struct CancelState {
  bool cancelled = false;
  CancelNode head;  // sentinel of a circular list of registrations
  // Link to a parent token (child sources); owned here so it lives exactly as long as the state.
  std::unique_ptr<CancelRegistration> parent_link;

  CancelState() { head.prev = head.next = &head; }
  ~CancelState() {
    // Registrations hold a shared_ptr to us, so none can still be linked here.
  }
  void cancel() {
    if (cancelled) return;
    cancelled = true;
    // Pop one at a time: a callback may disarm other registrations (or itself).
    while (head.next != &head) {
      CancelNode* n = head.next;
      n->unlink();
      n->fn(n->ctx);
    }
  }
};
}  // namespace detail

bool CancelToken::cancelled() const { return state_ && state_->cancelled; }

CancelSource::CancelSource() : state_(std::make_shared<detail::CancelState>()) {}

CancelSource::CancelSource(const CancelToken& parent) : CancelSource() {
  if (!parent.can_cancel()) return;
  if (parent.cancelled()) {
    state_->cancelled = true;
    return;
  }
  state_->parent_link = std::make_unique<CancelRegistration>();
  // The raw state pointer is safe: the registration is owned by (and dies with) the state.
  (void)state_->parent_link->arm(
      parent, [](void* ctx) { static_cast<detail::CancelState*>(ctx)->cancel(); }, state_.get());
}

void CancelSource::cancel() {
  if (!state_) return;
  // Keep the state alive while callbacks run, even if one of them drops the last source.
  auto keep = state_;
  keep->cancel();
}

bool CancelSource::cancelled() const { return state_ && state_->cancelled; }

bool CancelRegistration::arm(const CancelToken& token, void (*fn)(void*), void* ctx) {
  disarm();
  if (!token.state_) return true;
  if (token.state_->cancelled) return false;
  state_ = token.state_;
  node_.fn = fn;
  node_.ctx = ctx;
  detail::CancelNode& head = state_->head;
  node_.prev = head.prev;
  node_.next = &head;
  head.prev->next = &node_;
  head.prev = &node_;
  return true;
}

void CancelRegistration::disarm() {
  node_.unlink();
  state_.reset();
}

}  // namespace ptun::core
