// Shared between unix_stream.cpp and unix_listener.cpp: the heap state behind a UnixStream.
#pragma once
#include <uv.h>

#include <array>
#include <string>

#include "core/loop.hpp"
#include "core/unix_socket.hpp"

namespace ptun::core {

namespace detail {
struct ReadWait;
}

// Freed by the pipe's close callback, never by the UnixStream, so late callbacks stay safe.
struct UnixStream::State {
  uv_pipe_t h;
  Loop* loop = nullptr;
  std::string rbuf;         // received bytes not yet returned as lines
  size_t scanned = 0;       // prefix of rbuf already known to hold no '\n'
  bool eof = false;
  int read_error = 0;       // libuv status of a failed read
  detail::ReadWait* reader = nullptr;
  std::array<char, 4096> chunk;  // libuv reads into this, the read callback appends to rbuf
};

// Fails a pending read with Errc::closed and closes the handle (the state is freed by the close
// callback; queued writes complete first with UV_ECANCELED).
void close_stream_state(UnixStream::State* st);

}  // namespace ptun::core
