// The read side of a tun::CallbackDevice (netstack, userspace forwarder) on the loop: sleeps
// until the device signals output, then drains it a batch at a time. Shared by the userspace
// client and the server's userspace forwarding, which differ only in what a packet means.
#pragma once
#include <functional>

#include "common/buffer_pool.hpp"
#include "core/core.hpp"
#include "tun/packet_device.hpp"

namespace ptun::netstack {

// handle(pkt, now) for every packet read, after_batch() after each batch. Buffers come from
// `pool` and go back at the end; the device's on_output is cleared before returning.
core::Task<void> drain_device(core::Loop& loop, tun::CallbackDevice& dev, BufferPool& pool,
                              std::function<void(PacketBuf*, uint64_t)> handle,
                              std::function<void()> after_batch, core::CancelToken stop);

}  // namespace ptun::netstack
