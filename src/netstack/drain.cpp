#include "netstack/drain.hpp"

#include <array>

#include "common/limits.hpp"

namespace ptun::netstack {

core::Task<void> drain_device(core::Loop& loop, tun::CallbackDevice& dev, BufferPool& pool,
                              std::function<void(PacketBuf*, uint64_t)> handle,
                              std::function<void()> after_batch, core::CancelToken stop) {
  core::Timer wake(loop);
  dev.set_on_output([&wake] { wake.poke(); });   // possibly inside lwIP: only wake
  std::array<PacketBuf*, limits::kBatch> bufs;
  for (auto& b : bufs) b = pool.get();
  while (!stop.cancelled()) {
    auto r = co_await wake.wait_until(loop.now_ms() + 60000, stop);
    if (!r && r.error().code == Errc::cancelled) break;
    for (;;) {
      auto n = dev.read_batch(bufs);
      if (!n || *n == 0) break;
      uint64_t now = loop.now_ms();
      for (size_t i = 0; i < *n; ++i) handle(bufs[i], now);
      after_batch();
      if (*n < bufs.size()) break;
    }
  }
  dev.set_on_output(nullptr);
  for (auto* b : bufs) pool.put(b);
}

}  // namespace ptun::netstack
