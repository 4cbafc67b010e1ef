// Op<R>: the common part of every I/O awaiter in ptun::core. An Op lives in the awaiting
// coroutine's frame; the I/O object (timer, poll, stream...) keeps a pointer to it while it is
// pending. Completion — by a libuv callback, by cancellation or by the object closing — always
// goes through finish(), which detaches the cancel registration and queues the coroutine on the
// loop's ready queue. The derived awaiter's destructor detaches it from its object, so a frame
// destroyed while suspended is never resumed by a late callback.
#pragma once
#include <coroutine>
#include <optional>
#include <utility>

#include "common/result.hpp"
#include "core/cancel.hpp"
#include "core/loop.hpp"

namespace ptun::core {

template <typename R>
struct Op {
  Loop& loop;
  ReadyNode node;
  CancelRegistration reg;
  std::optional<R> result;

  explicit Op(Loop& l) : loop(l) {}
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;

  // Records the outcome and queues the awaiting coroutine (never resumes it on this stack).
  void finish(R r) {
    reg.disarm();
    result.emplace(std::move(r));
    loop.schedule(node);
  }
  bool finished() const { return result.has_value(); }
  R take() { return std::move(*result); }
};

inline Error cancelled_error() { return Error(Errc::cancelled, "cancelled"); }
inline Error closed_error() { return Error(Errc::closed, "closed"); }
// A libuv status code (negative errno) as an Error: "what: message".
Error uv_error(const char* what, int status);

}  // namespace ptun::core
