// UnixStream over uv_pipe_t. The handle and its read buffer live in a heap State freed by the
// close callback; write requests are heap objects freed by their own callback, so neither
// depends on the lifetime of the awaiting coroutine frame.
#include <sys/socket.h>
#include <sys/un.h>

#include <array>
#include <utility>

#include "core/op.hpp"
#include "core/unix_socket.hpp"
#include "core/unix_socket_internal.hpp"

namespace ptun::core {

namespace detail {

// Woken whenever the read callback delivered something (data, EOF or an error).
struct ReadWait : Op<Result<void>> {
  UnixStream::State* st;
  CancelToken token;
  ReadWait(UnixStream::State* s, CancelToken t) : Op(*s->loop), st(s), token(std::move(t)) {}
  ~ReadWait() { detach(); }
  void detach();
  bool await_ready() {
    if (token.cancelled()) result.emplace(cancelled_error());
    return result.has_value();
  }
  void await_suspend(std::coroutine_handle<> h);
  Result<void> await_resume() { return take(); }
};

}  // namespace detail

namespace {
using detail::ReadWait;

void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* st = static_cast<UnixStream::State*>(s->data);
  if (nread > 0) {
    st->rbuf.append(buf->base, size_t(nread));
  } else if (nread == UV_EOF) {
    st->eof = true;
  } else if (nread < 0) {
    st->read_error = int(nread);
  } else {
    return;  // nread == 0: EAGAIN, nothing happened
  }
  // Read only on demand: the reader looks at what arrived and asks again if it needs more.
  uv_read_stop(s);
  if (ReadWait* w = std::exchange(st->reader, nullptr)) w->finish(ok());
}

}  // namespace

namespace detail {
void ReadWait::detach() {
  if (st && st->reader == this) {
    st->reader = nullptr;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&st->h));
  }
}

void ReadWait::await_suspend(std::coroutine_handle<> h) {
  node.h = h;
  (void)reg.arm(
      token,
      [](void* p) {
        auto* w = static_cast<ReadWait*>(p);
        w->detach();
        w->finish(cancelled_error());
      },
      this);
  st->reader = this;
  int rc = uv_read_start(
      reinterpret_cast<uv_stream_t*>(&st->h),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* s = static_cast<UnixStream::State*>(h->data);
        *buf = uv_buf_init(s->chunk.data(), unsigned(s->chunk.size()));
      },
      on_read);
  if (rc < 0) {
    st->reader = nullptr;
    finish(uv_error("uv_read_start", rc));
  }
}
}  // namespace detail

namespace {

struct WriteWait;
struct WriteReq {
  uv_write_t req;
  std::string data;
  WriteWait* waiter = nullptr;
};

struct WriteWait : Op<Result<void>> {
  WriteReq* req = nullptr;
  CancelToken token;
  WriteWait(Loop& loop, CancelToken t) : Op(loop), token(std::move(t)) {}
  ~WriteWait() {
    if (req) req->waiter = nullptr;
  }
  bool await_ready() { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    node.h = h;
    req->waiter = this;
    (void)reg.arm(
        token,
        [](void* p) {
          // The request carries on (its bytes stay in order on the stream); we stop waiting.
          auto* w = static_cast<WriteWait*>(p);
          w->req->waiter = nullptr;
          w->req = nullptr;
          w->finish(cancelled_error());
        },
        this);
  }
  Result<void> await_resume() { return take(); }
};

struct ConnectWait;
struct ConnectReq {
  uv_connect_t req;
  ConnectWait* waiter = nullptr;
};

// Owns the pipe state until the connect completes: a frame destroyed mid-connect closes it.
struct ConnectWait : Op<Result<void>> {
  UnixStream::State* st;
  ConnectReq* req;
  CancelToken token;
  ConnectWait(Loop& loop, UnixStream::State* s, CancelToken t)
      : Op(loop), st(s), req(new ConnectReq), token(std::move(t)) {
    req->req.data = req;
  }
  ~ConnectWait() {
    if (req) req->waiter = nullptr;
    if (!finished()) close_stream_state(st);  // the callback still frees req (UV_ECANCELED)
  }
  bool await_ready() { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    node.h = h;
    req->waiter = this;
    (void)reg.arm(
        token,
        [](void* p) {
          auto* w = static_cast<ConnectWait*>(p);
          w->req->waiter = nullptr;
          w->req = nullptr;
          w->finish(cancelled_error());
        },
        this);
  }
  Result<void> await_resume() { return take(); }
};

void on_connect(uv_connect_t* r, int status) {
  auto* cr = static_cast<ConnectReq*>(r->data);
  if (ConnectWait* w = cr->waiter) {
    w->req = nullptr;
    w->finish(status == 0 ? ok() : Result<void>(uv_error("connect", status)));
  }
  delete cr;
}

}  // namespace

UnixStream::State* UnixStream::new_state(Loop& loop) {
  auto* st = new State;
  st->loop = &loop;
  uv_pipe_init(loop.raw(), &st->h, 0);
  st->h.data = st;
  return st;
}

void close_stream_state(UnixStream::State* st) {
  if (ReadWait* w = std::exchange(st->reader, nullptr)) {
    w->st = nullptr;
    w->finish(closed_error());
  }
  // Queued writes are completed by libuv with UV_ECANCELED before the close callback.
  uv_close(reinterpret_cast<uv_handle_t*>(&st->h),
           [](uv_handle_t* h) { delete static_cast<UnixStream::State*>(h->data); });
}

UnixStream::UnixStream(State* st) : st_(st) {
  uv_os_fd_t fd;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&st->h), &fd) == 0 &&
      getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    uid_ = cred.uid;
    gid_ = cred.gid;
    pid_ = cred.pid;
  }
}

void UnixStream::close() {
  if (State* st = std::exchange(st_, nullptr)) close_stream_state(st);
}

Task<Result<std::string>> UnixStream::read_line(size_t max_len, CancelToken token) {
  for (;;) {
    if (!st_) co_return closed_error();
    std::string& buf = st_->rbuf;
    size_t scan_from = st_->scanned;
    size_t pos = buf.find('\n', scan_from);
    if (pos != std::string::npos) {
      st_->scanned = 0;
      if (pos > max_len) co_return Error(Errc::limit, "line longer than " + std::to_string(max_len));
      std::string line = buf.substr(0, pos);
      buf.erase(0, pos + 1);
      co_return line;
    }
    st_->scanned = buf.size();  // don't rescan the same bytes on the next chunk
    if (buf.size() > max_len) co_return Error(Errc::limit, "line longer than " + std::to_string(max_len));
    if (st_->read_error < 0) co_return uv_error("read", st_->read_error);
    if (st_->eof) co_return closed_error();
    if (st_->reader) co_return Error(Errc::invalid_argument, "UnixStream: concurrent read_line");
    ReadWait w(st_, token);
    Result<void> r = co_await w;
    if (!r) co_return r.error();
  }
}

Task<Result<void>> UnixStream::write_all(std::string data, CancelToken token) {
  if (!st_) co_return closed_error();
  if (token.cancelled()) co_return cancelled_error();
  if (data.size() > UINT32_MAX) co_return Error(Errc::limit, "write larger than 4 GiB");
  auto* stream = reinterpret_cast<uv_stream_t*>(&st_->h);
  size_t off = 0;
  uv_buf_t b = uv_buf_init(data.data(), unsigned(data.size()));
  int n = data.empty() ? 0 : uv_try_write(stream, &b, 1);
  if (n > 0) off = size_t(n);
  else if (n < 0 && n != UV_EAGAIN) co_return uv_error("write", n);
  if (off == data.size()) co_return ok();

  auto* req = new WriteReq;
  req->data = std::move(data);  // owned by the request until its callback: frames may go first
  req->req.data = req;
  uv_buf_t rest = uv_buf_init(req->data.data() + off, unsigned(req->data.size() - off));
  int rc = uv_write(&req->req, stream, &rest, 1, [](uv_write_t* r, int status) {
    auto* wr = static_cast<WriteReq*>(r->data);
    if (WriteWait* w = wr->waiter) {
      w->req = nullptr;
      w->finish(status == 0 ? ok() : status == UV_ECANCELED ? Result<void>(closed_error())
                                                             : Result<void>(uv_error("write", status)));
    }
    delete wr;
  });
  if (rc < 0) {
    delete req;
    co_return uv_error("uv_write", rc);
  }
  WriteWait w(*st_->loop, token);
  w.req = req;
  co_return co_await w;
}

Task<Result<std::unique_ptr<UnixStream>>> UnixStream::connect(Loop& loop, const std::string& path,
                                                              CancelToken token) {
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    co_return Error(Errc::invalid_argument, "unix socket path too long: " + path);
  if (token.cancelled()) co_return cancelled_error();
  State* st = new_state(loop);
  Result<void> r = ok();
  {
    ConnectWait w(loop, st, token);
    uv_pipe_connect(&w.req->req, &st->h, path.c_str(), on_connect);
    r = co_await w;
  }
  if (!r) {
    close_stream_state(st);  // a pending connect's callback runs (UV_ECANCELED) before close
    Error e = r.error();
    if (e.code == Errc::io) e.message = "connect " + path + ": " + e.message;
    co_return e;
  }
  co_return std::unique_ptr<UnixStream>(new UnixStream(st));
}

}  // namespace ptun::core
