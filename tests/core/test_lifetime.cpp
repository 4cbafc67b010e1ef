// Frame lifetime under cancellation, object destruction and loop shutdown: every coroutine frame
// is destroyed, and no libuv callback fires into a destroyed frame or freed handle memory (the
// latter is what ASan checks when this runs in the sanitizer build).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "probe.hpp"

using namespace ptun;
using namespace ptun::core;
using ptun::core::test::FrameProbe;

namespace {

struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0); }
  ~Pipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
};

// One pending await of each kind, two frames deep (so destruction unwinds a chain).
Task<int> pending_inner(Loop& loop, int kind, int fd, std::string dir) {
  FrameProbe p;
  switch (kind) {
    case 0: {
      (void)co_await sleep_for(loop, 100000);
      break;
    }
    case 1: {
      Timer t(loop);
      (void)co_await t.wait_for(100000);
      break;
    }
    case 2: {
      FdPoll poll(loop, fd);
      (void)co_await poll.wait(UV_READABLE);
      break;
    }
    case 3: {
      auto s = UdpSocket::bind(loop, Endpoint::parse("127.0.0.1:0").value());
      REQUIRE(s.ok());
      BufferPool pool(1);
      Datagram in[1] = {{pool.get(), {}}};
      (void)co_await (*s)->recv_batch(in);
      break;
    }
    case 4: {
      SignalSet sigs(loop, {SIGUSR2});
      (void)co_await sigs.wait();
      break;
    }
    case 5: {
      std::string path = dir + "/s";
      auto l = UnixListener::listen(loop, path, 0600);
      REQUIRE(l.ok());
      auto c = co_await UnixStream::connect(loop, path);
      REQUIRE(c.ok());
      (void)co_await (*c)->read_line(100);  // the server never writes
      break;
    }
  }
  co_return kind;
}

Task<int> pending_outer(Loop& loop, int kind, int fd, std::string dir) {
  FrameProbe p;
  co_return co_await pending_inner(loop, kind, fd, std::move(dir));
}

}  // namespace

TEST_CASE("Loop::stop destroys suspended frames and their handles never call back into them",
          "[core][lifetime]") {
  const int kind = GENERATE(0, 1, 2, 3, 4, 5);
  CAPTURE(kind);
  Pipe pipe;
  char tmpl[] = "/tmp/ptun-core-lifeXXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  uv_timer_t stopper;  // declared before the loop: its memory outlives the loop's close pass
  {
    Loop loop;
    uv_timer_init(loop.raw(), &stopper);
    stopper.data = &loop;
    uv_timer_start(&stopper, [](uv_timer_t* t) { static_cast<Loop*>(t->data)->stop(); }, 20, 0);
    CHECK_THROWS_AS(run_until_complete(loop, pending_outer(loop, kind, pipe.fds[0], tmpl)), std::runtime_error);
    CHECK(FrameProbe::live == 0);
    // Make the fd readable and let the loop run on: a stale callback would touch freed memory.
    REQUIRE(::write(pipe.fds[1], "x", 1) == 1);
    uv_close(reinterpret_cast<uv_handle_t*>(&stopper), nullptr);
    Result<void> r = run_until_complete(loop, sleep_for(loop, 30));
    CHECK(r.ok());
    CHECK(FrameProbe::live == 0);
  }
  CHECK(::rmdir(tmpl) == 0);  // empty: the listener removed its socket file when destroyed
}

TEST_CASE("Cancelling a scope ends every kind of await and frees every frame", "[core][lifetime]") {
  Loop loop;
  Pipe pipe;
  auto main = [](Loop& loop, int fd) -> Task<void> {
    TaskScope scope(loop);
    std::vector<Errc> got;
    auto wrap = [](Loop& loop, int kind, int fd, CancelToken tok, std::vector<Errc>* got) -> Task<void> {
      FrameProbe p;
      Result<void> r = ok();
      switch (kind) {
        case 0: r = co_await sleep_for(loop, 100000, tok); break;
        case 1: {
          Timer t(loop);
          r = co_await t.wait_for(100000, tok);
          break;
        }
        case 2: {
          FdPoll poll(loop, fd);
          Result<int> w = co_await poll.wait(UV_READABLE, tok);
          if (!w) r = w.error();
          break;
        }
        case 3: {
          auto s = UdpSocket::bind(loop, Endpoint::parse("127.0.0.1:0").value());
          REQUIRE(s.ok());
          BufferPool pool(1);
          Datagram in[1] = {{pool.get(), {}}};
          Result<size_t> n = co_await (*s)->recv_batch(in, tok);
          if (!n) r = n.error();
          break;
        }
        case 4: {
          SignalSet sigs(loop, {SIGUSR2});
          Result<int> s = co_await sigs.wait(tok);
          if (!s) r = s.error();
          break;
        }
      }
      got->push_back(r ? Errc::ok : r.error().code);
    };
    for (int kind = 0; kind < 5; ++kind) scope.spawn(wrap(loop, kind, fd, scope.token(), &got));
    (void)co_await sleep_for(loop, 10);
    CHECK(FrameProbe::live == 5);
    scope.cancel();
    co_await scope.join();
    CHECK(got == std::vector<Errc>(5, Errc::cancelled));
  };
  run_until_complete(loop, main(loop, pipe.fds[0]));
  CHECK(FrameProbe::live == 0);
}

TEST_CASE("Destroying an I/O object under a pending wait completes the wait safely", "[core][lifetime]") {
  Loop loop;
  Pipe pipe;
  auto main = [](Loop& loop, int fd) -> Task<void> {
    auto timer = std::make_unique<Timer>(loop);
    auto poll = std::make_unique<FdPoll>(loop, fd);
    auto sigs = std::make_unique<SignalSet>(loop, std::initializer_list<int>{SIGUSR2});
    std::vector<Errc> got;
    TaskScope scope(loop);
    auto on_timer = [](Timer& t, std::vector<Errc>* got) -> Task<void> {
      FrameProbe p;
      Result<void> r = co_await t.wait_for(100000);
      got->push_back(r ? Errc::ok : r.error().code);
    };
    auto on_poll = [](FdPoll& f, std::vector<Errc>* got) -> Task<void> {
      FrameProbe p;
      Result<int> r = co_await f.wait(UV_READABLE);
      got->push_back(r ? Errc::ok : r.error().code);
    };
    auto on_sig = [](SignalSet& s, std::vector<Errc>* got) -> Task<void> {
      FrameProbe p;
      Result<int> r = co_await s.wait();
      got->push_back(r ? Errc::ok : r.error().code);
    };
    scope.spawn(on_timer(*timer, &got));
    scope.spawn(on_poll(*poll, &got));
    scope.spawn(on_sig(*sigs, &got));
    (void)co_await sleep_for(loop, 5);
    timer.reset();
    poll.reset();
    sigs.reset();
    co_await scope.join();
    REQUIRE(got.size() == 3);
    CHECK(got[0] == Errc::cancelled);
    CHECK(got[1] == Errc::closed);
    CHECK(got[2] == Errc::closed);
  };
  run_until_complete(loop, main(loop, pipe.fds[0]));
  CHECK(FrameProbe::live == 0);
}
