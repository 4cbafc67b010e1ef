// Unix stream sockets (uv_pipe) for the control socket. The JSON-lines protocol on top lives in
// the control module; this layer provides bounded line reads, whole writes and peer credentials.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "core/cancel.hpp"
#include "core/loop.hpp"
#include "core/task.hpp"

namespace ptun::core {

class UnixListenerAccess;

class UnixStream {
 public:
  struct State;

  // Client side (e.g. the CLI talking to a running daemon). Errors: Errc::invalid_argument (path
  // too long for sun_path), Errc::io (no such socket, refused, permission...), Errc::cancelled.
  static Task<Result<std::unique_ptr<UnixStream>>> connect(Loop& loop, const std::string& path,
                                                           CancelToken token = {});
  ~UnixStream() { close(); }
  UnixStream(const UnixStream&) = delete;
  UnixStream& operator=(const UnixStream&) = delete;

  // The next line, without its '\n'. Errors: Errc::limit if the line is longer than max_len
  // (the stream should then be closed: the rest of that line is still buffered), Errc::closed on
  // EOF (a final unterminated fragment is discarded) or after close(), Errc::io, Errc::cancelled.
  // Reads only while a read_line is waiting (back-pressure); buffers at most max_len + 4 KiB.
  // One read_line at a time.
  Task<Result<std::string>> read_line(size_t max_len, CancelToken token = {});
  // Writes all of `data` (tries a direct write first, queues the rest). Errors: Errc::closed,
  // Errc::io, Errc::cancelled — a cancelled write still completes in the background, so the
  // byte stream stays consistent; only the wait is abandoned.
  Task<Result<void>> write_all(std::string data, CancelToken token = {});

  // SO_PEERCRED of the connected peer, read once at accept/connect time.
  uint32_t peer_uid() const { return uid_; }
  uint32_t peer_gid() const { return gid_; }
  int32_t peer_pid() const { return pid_; }
  // Idempotent. Pending reads/writes complete with Errc::closed; the handle is closed
  // asynchronously and freed by its close callback.
  void close();
  bool is_open() const { return st_ != nullptr; }

 private:
  friend class UnixListenerAccess;
  explicit UnixStream(State* st);  // takes ownership of a connected handle's state
  static State* new_state(Loop& loop);

  State* st_;
  uint32_t uid_ = UINT32_MAX;
  uint32_t gid_ = UINT32_MAX;
  int32_t pid_ = 0;
};

class UnixListener {
 public:
  struct State;

  // Creates the socket file with `mode` (e.g. 0660; set via umask at bind time, so there is no
  // window with a wider mode) and listens. Refuses with Errc::exists if another live instance
  // answers on `path` or if `path` exists and is not a socket; removes a stale socket file
  // otherwise. Errc::invalid_argument if the path does not fit in sun_path; Errc::io otherwise.
  static Result<std::unique_ptr<UnixListener>> listen(Loop& loop, const std::string& path,
                                                      unsigned mode);
  // Closes and removes the socket file (if it is still the one this listener created).
  ~UnixListener() { close(); }
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;

  // The next connection, with its peer credentials. Errc::closed after close(),
  // Errc::cancelled, Errc::io. One accept at a time.
  Task<Result<std::unique_ptr<UnixStream>>> accept(CancelToken token = {});
  const std::string& path() const { return path_; }
  // Idempotent: stops listening, fails a pending accept with Errc::closed, unlinks the file.
  void close();

 private:
  UnixListener(State* st, std::string path, dev_t dev, ino_t ino);

  State* st_;
  std::string path_;
  dev_t dev_;  // identity of the socket file we created, so close() never unlinks a successor's
  ino_t ino_;
};

}  // namespace ptun::core
