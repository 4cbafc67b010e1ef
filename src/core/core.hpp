// ptun::core: the coroutine runtime over libuv, in one include for the I/O modules and roles.
//
//   Loop ── ready queue (uv_check/uv_idle) ── resumes coroutines woken by libuv callbacks
//    ├─ Task<T>, TaskScope, run_until_complete    structured, lazy coroutines
//    ├─ CancelSource / CancelToken                 cancellation of any await
//    ├─ Timer, sleep_for                           loop-clock deadlines
//    ├─ FdPoll, UdpSocket                          raw fds, batched UDP (recvmmsg/sendmmsg)
//    ├─ SignalSet                                  SIGINT, SIGTERM, SIGHUP...
//    ├─ resolve_host                               getaddrinfo in libuv's thread pool
//    └─ UnixListener / UnixStream                  the control socket transport
#pragma once
#include "core/cancel.hpp"
#include "core/fd_poll.hpp"
#include "core/loop.hpp"
#include "core/resolver.hpp"
#include "core/run.hpp"
#include "core/signal_set.hpp"
#include "core/task.hpp"
#include "core/task_scope.hpp"
#include "core/timer.hpp"
#include "core/tcp_stream.hpp"
#include "core/udp_socket.hpp"
#include "core/unix_socket.hpp"
