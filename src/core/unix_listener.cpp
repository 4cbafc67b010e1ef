// UnixListener over uv_pipe_t: single-instance check, socket file mode, accept as an awaitable.
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "core/op.hpp"
#include "core/unix_socket.hpp"
#include "core/unix_socket_internal.hpp"

namespace ptun::core {

namespace {
struct AcceptWait;
constexpr int kBacklog = 64;
}  // namespace

struct UnixListener::State {
  uv_pipe_t h;
  Loop* loop = nullptr;
  int pending = 0;  // connections signalled by libuv and not yet accepted
  int listen_error = 0;
  AcceptWait* waiter = nullptr;
};

namespace {

using StreamResult = Result<std::unique_ptr<UnixStream>>;

struct AcceptWait : Op<StreamResult> {
  UnixListener::State* st;
  CancelToken token;
  AcceptWait(UnixListener::State* s, CancelToken t) : Op(*s->loop), st(s), token(std::move(t)) {}
  ~AcceptWait() { detach(); }
  void detach() {
    if (st && st->waiter == this) st->waiter = nullptr;
  }
  bool await_ready();
  void await_suspend(std::coroutine_handle<> h) {
    node.h = h;
    (void)reg.arm(
        token,
        [](void* p) {
          auto* w = static_cast<AcceptWait*>(p);
          w->detach();
          w->finish(cancelled_error());
        },
        this);
    st->waiter = this;
  }
  StreamResult await_resume() { return take(); }
};

}  // namespace

// Friend access to UnixStream's private constructor goes through this class's static helper.
class UnixListenerAccess {
 public:
  static StreamResult accept_one(UnixListener::State* st) {
    UnixStream::State* ss = UnixStream::new_state(*st->loop);
    int rc = uv_accept(reinterpret_cast<uv_stream_t*>(&st->h), reinterpret_cast<uv_stream_t*>(&ss->h));
    --st->pending;
    if (rc < 0) {
      close_stream_state(ss);
      return uv_error("accept", rc);
    }
    return std::unique_ptr<UnixStream>(new UnixStream(ss));
  }
};

namespace {

bool AcceptWait::await_ready() {
  if (token.cancelled()) {
    result.emplace(cancelled_error());
  } else if (!st) {
    result.emplace(closed_error());
  } else if (st->waiter) {
    result.emplace(Error(Errc::invalid_argument, "UnixListener: concurrent accept"));
  } else if (st->pending > 0) {
    result.emplace(UnixListenerAccess::accept_one(st));
  } else if (st->listen_error < 0) {
    result.emplace(uv_error("listen", std::exchange(st->listen_error, 0)));
  }
  return result.has_value();
}

void on_connection(uv_stream_t* server, int status) {
  auto* st = static_cast<UnixListener::State*>(server->data);
  if (status < 0) {
    if (AcceptWait* w = std::exchange(st->waiter, nullptr)) w->finish(uv_error("listen", status));
    else st->listen_error = status;
    return;
  }
  ++st->pending;
  // Accept right away for a waiter (libuv stops watching the socket until uv_accept is called,
  // which bounds the backlog we hold to one connection).
  if (AcceptWait* w = std::exchange(st->waiter, nullptr)) w->finish(UnixListenerAccess::accept_one(st));
}

// Is a live process accepting on `path`? A non-blocking connect answers at once.
Result<bool> answers(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno("socket", errno);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  int err = errno;
  ::close(fd);
  if (rc == 0 || err == EAGAIN || err == EINPROGRESS) return true;  // EAGAIN: backlog full
  if (err == ECONNREFUSED) return false;
  return Error::from_errno("connect " + path, err);
}

}  // namespace

Result<std::unique_ptr<UnixListener>> UnixListener::listen(Loop& loop, const std::string& path,
                                                           unsigned mode) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path))
    return Error(Errc::invalid_argument, "unix socket path empty or too long: " + path);
  struct stat sb;
  if (::lstat(path.c_str(), &sb) == 0) {
    if (!S_ISSOCK(sb.st_mode)) return Error(Errc::exists, path + " exists and is not a socket");
    Result<bool> live = answers(path);
    if (!live) return live.error();
    if (*live) return Error(Errc::exists, "another instance is listening on " + path);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return Error::from_errno("unlink stale " + path, errno);
  } else if (errno != ENOENT) {
    return Error::from_errno("stat " + path, errno);
  }

  auto* st = new State;
  st->loop = &loop;
  uv_pipe_init(loop.raw(), &st->h, 0);
  st->h.data = st;
  auto fail = [&](const char* what, int rc) -> Result<std::unique_ptr<UnixListener>> {
    uv_close(reinterpret_cast<uv_handle_t*>(&st->h),
             [](uv_handle_t* h) { delete static_cast<State*>(h->data); });
    return Error(Errc::io, std::string(what) + " " + path + ": " + uv_strerror(rc));
  };
  // The file gets its final mode at creation: no window in which it is wider than `mode`.
  mode_t old_mask = ::umask(~mode_t(mode) & 0777);
  int rc = uv_pipe_bind(&st->h, path.c_str());
  ::umask(old_mask);
  if (rc < 0) return fail("bind", rc);
  if (::chmod(path.c_str(), mode_t(mode)) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return fail("chmod", -err);
  }
  if (::lstat(path.c_str(), &sb) != 0) {
    int err = errno;
    return fail("stat", -err);
  }
  rc = uv_listen(reinterpret_cast<uv_stream_t*>(&st->h), kBacklog, on_connection);
  if (rc < 0) {
    ::unlink(path.c_str());
    return fail("listen", rc);
  }
  return std::unique_ptr<UnixListener>(new UnixListener(st, path, sb.st_dev, sb.st_ino));
}

UnixListener::UnixListener(State* st, std::string path, dev_t dev, ino_t ino)
    : st_(st), path_(std::move(path)), dev_(dev), ino_(ino) {}

void UnixListener::close() {
  State* st = std::exchange(st_, nullptr);
  if (!st) return;
  if (AcceptWait* w = std::exchange(st->waiter, nullptr)) {
    w->st = nullptr;
    w->finish(closed_error());
  }
  // A connection libuv accepted but we never took is closed by libuv with the listener.
  uv_close(reinterpret_cast<uv_handle_t*>(&st->h),
           [](uv_handle_t* h) { delete static_cast<State*>(h->data); });
  struct stat sb;
  if (::lstat(path_.c_str(), &sb) == 0 && sb.st_dev == dev_ && sb.st_ino == ino_)
    ::unlink(path_.c_str());
}

Task<Result<std::unique_ptr<UnixStream>>> UnixListener::accept(CancelToken token) {
  if (!st_) co_return closed_error();
  AcceptWait w(st_, std::move(token));
  co_return co_await w;
}

}  // namespace ptun::core
