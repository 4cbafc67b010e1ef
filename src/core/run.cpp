#include "core/run.hpp"

namespace ptun::core::detail {

RootSignal root_signal(Loop& loop) {
  loop.interrupt_run();
  co_return;
}

}  // namespace ptun::core::detail
