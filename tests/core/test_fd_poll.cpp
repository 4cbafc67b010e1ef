#include <catch2/catch.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "probe.hpp"

using namespace ptun;
using namespace ptun::core;

namespace {

struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0); }
  ~Pipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
};

Task<void> write_after(Loop& loop, int fd, uint64_t ms) {
  (void)co_await sleep_for(loop, ms);
  REQUIRE(::write(fd, "x", 1) == 1);
}

}  // namespace

TEST_CASE("FdPoll: a pipe becomes readable when written", "[core][poll]") {
  Loop loop;
  Pipe p;
  auto main = [](Loop& loop, Pipe& p) -> Task<void> {
    FdPoll poll(loop, p.fds[0]);
    TaskScope scope(loop);
    scope.spawn(write_after(loop, p.fds[1], 10));
    Result<int> r = co_await poll.wait(UV_READABLE);
    REQUIRE(r.ok());
    CHECK(*r == UV_READABLE);
    char c;
    CHECK(::read(p.fds[0], &c, 1) == 1);
    co_await scope.join();
    // The write end of an empty pipe is writable at once.
    FdPoll wpoll(loop, p.fds[1]);
    r = co_await wpoll.wait(UV_WRITABLE);
    REQUIRE(r.ok());
    CHECK(*r == UV_WRITABLE);
  };
  run_until_complete(loop, main(loop, p));
}

TEST_CASE("FdPoll: a reader and a writer wait on one fd at the same time", "[core][poll]") {
  Loop loop;
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
  auto main = [](Loop& loop, int fd, int peer) -> Task<void> {
    FdPoll poll(loop, fd);
    std::vector<int> got;
    auto wait = [](FdPoll& poll, int ev, std::vector<int>* got) -> Task<void> {
      Result<int> r = co_await poll.wait(ev);
      REQUIRE(r.ok());
      got->push_back(*r);
    };
    TaskScope scope(loop);
    scope.spawn(wait(poll, UV_READABLE, &got));
    scope.spawn(wait(poll, UV_WRITABLE, &got));
    scope.spawn(write_after(loop, peer, 10));
    co_await scope.join();
    CHECK(got == std::vector<int>{UV_WRITABLE, UV_READABLE});
  };
  run_until_complete(loop, main(loop, sv[0], sv[1]));
  ::close(sv[0]);
  ::close(sv[1]);
}

TEST_CASE("FdPoll: cancel and close end pending waits", "[core][poll]") {
  Loop loop;
  Pipe p;
  auto main = [](Loop& loop, Pipe& p) -> Task<void> {
    FdPoll poll(loop, p.fds[0]);
    CancelSource src;
    TaskScope scope(loop);
    std::vector<Errc> got;
    auto wait = [](FdPoll& poll, CancelToken tok, std::vector<Errc>* got) -> Task<void> {
      Result<int> r = co_await poll.wait(UV_READABLE, tok);
      got->push_back(r ? Errc::ok : r.error().code);
    };
    scope.spawn(wait(poll, src.token(), &got));
    scope.spawn(wait(poll, {}, &got));
    co_await loop.yield();
    src.cancel();
    CHECK(got.empty());  // never completed re-entrantly from cancel()
    co_await loop.yield();
    REQUIRE(got.size() == 1);
    CHECK(got[0] == Errc::cancelled);
    poll.close();
    co_await scope.join();
    REQUIRE(got.size() == 2);
    CHECK(got[1] == Errc::closed);
    Result<int> r = co_await poll.wait(UV_READABLE);
    CHECK(r.error().code == Errc::closed);
  };
  run_until_complete(loop, main(loop, p));
}

TEST_CASE("FdPoll: an fd libuv cannot poll fails every wait", "[core][poll]") {
  Loop loop;
  char path[] = "/tmp/ptun-core-pollXXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::unlink(path);
  auto main = [](Loop& loop, int fd) -> Task<void> {
    FdPoll poll(loop, fd);  // a regular file: epoll refuses it
    Result<int> r = co_await poll.wait(UV_READABLE);
    CHECK_FALSE(r.ok());
  };
  run_until_complete(loop, main(loop, fd));
  ::close(fd);
}
