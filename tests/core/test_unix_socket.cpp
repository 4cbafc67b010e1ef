#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "probe.hpp"

using namespace ptun;
using namespace ptun::core;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/ptun-core-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path + "'";
    (void)std::system(cmd.c_str());
  }
};

Task<void> serve_one(UnixListener& l, std::string* got_line, Errc* second) {
  auto s = co_await l.accept();
  REQUIRE(s.ok());
  UnixStream& st = **s;
  CHECK(st.peer_uid() == ::getuid());
  CHECK(st.peer_gid() == ::getgid());
  auto line = co_await st.read_line(16);
  REQUIRE(line.ok());
  *got_line = *line;
  {
    Result<void> w_ = co_await st.write_all("pong\n");
    REQUIRE(w_.ok());
  }
  auto too_long = co_await st.read_line(16);
  *second = too_long ? Errc::ok : too_long.error().code;
}

}  // namespace

TEST_CASE("UnixListener/UnixStream: lines, peer credentials, mode, line limit", "[core][unix]") {
  Loop loop;
  TempDir dir;
  std::string path = dir.path + "/ctl.sock";
  auto main = [](Loop& loop, std::string path) -> Task<void> {
    auto l = UnixListener::listen(loop, path, 0600);
    REQUIRE(l.ok());
    struct stat sb;
    REQUIRE(::stat(path.c_str(), &sb) == 0);
    CHECK(S_ISSOCK(sb.st_mode));
    CHECK((sb.st_mode & 0777) == 0600);

    std::string line;
    Errc second = Errc::ok;
    TaskScope scope(loop);
    scope.spawn(serve_one(**l, &line, &second));
    auto c = co_await UnixStream::connect(loop, path);
    REQUIRE(c.ok());
    UnixStream& cs = **c;
    {
      Result<void> w_ = co_await cs.write_all("ping\n");
      REQUIRE(w_.ok());
    }
    auto reply = co_await cs.read_line(100);
    REQUIRE(reply.ok());
    CHECK(*reply == "pong");
    {
      Result<void> w_ = co_await cs.write_all(std::string(100, 'x') + "\n");
      REQUIRE(w_.ok());
    }
    co_await scope.join();
    CHECK(line == "ping");
    CHECK(second == Errc::limit);
    // The server side closed: the client reads EOF.
    auto eof = co_await cs.read_line(100);
    REQUIRE_FALSE(eof.ok());
    CHECK(eof.error().code == Errc::closed);
    (*l)->close();
    CHECK(::stat(path.c_str(), &sb) != 0);  // the listener removed its socket file
  };
  run_until_complete(loop, main(loop, path));
}

TEST_CASE("UnixStream: a long write is completed across partial writes", "[core][unix]") {
  Loop loop;
  TempDir dir;
  std::string path = dir.path + "/big.sock";
  auto main = [](Loop& loop, std::string path) -> Task<void> {
    auto l = UnixListener::listen(loop, path, 0660);
    REQUIRE(l.ok());
    const std::string big(4 << 20, 'y');  // larger than the socket buffer: needs uv_write
    auto writer = [](UnixListener& l, const std::string& big) -> Task<void> {
      auto s = co_await l.accept();
      REQUIRE(s.ok());
      {
        Result<void> w_ = co_await (*s)->write_all(big + "\n");
        REQUIRE(w_.ok());
      }
    };
    TaskScope scope(loop);
    scope.spawn(writer(**l, big));
    auto c = co_await UnixStream::connect(loop, path);
    REQUIRE(c.ok());
    auto line = co_await (*c)->read_line(big.size());
    REQUIRE(line.ok());
    CHECK(*line == big);
    co_await scope.join();
  };
  run_until_complete(loop, main(loop, path));
}

TEST_CASE("UnixListener: live instance refused, stale socket replaced, non-socket refused",
          "[core][unix]") {
  Loop loop;
  TempDir dir;
  std::string path = dir.path + "/ctl.sock";
  {
    auto first = UnixListener::listen(loop, path, 0660);
    REQUIRE(first.ok());
    auto second = UnixListener::listen(loop, path, 0660);
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().code == Errc::exists);
  }
  // A stale socket file: bound by a process that is gone (here: a closed socket).
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strcpy(sa.sun_path, path.c_str());
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  ::close(fd);
  {
    auto again = UnixListener::listen(loop, path, 0660);
    REQUIRE(again.ok());
  }
  std::string file = dir.path + "/plain";
  std::FILE* f = std::fopen(file.c_str(), "w");
  REQUIRE(f);
  std::fclose(f);
  auto refused = UnixListener::listen(loop, file, 0660);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::exists);
  auto too_long = UnixListener::listen(loop, dir.path + "/" + std::string(200, 'a'), 0660);
  REQUIRE_FALSE(too_long.ok());
  CHECK(too_long.error().code == Errc::invalid_argument);
}

TEST_CASE("UnixListener/UnixStream: accept and read cancelled, connect to nothing fails",
          "[core][unix]") {
  Loop loop;
  TempDir dir;
  std::string path = dir.path + "/ctl.sock";
  auto main = [](Loop& loop, std::string path) -> Task<void> {
    auto l = UnixListener::listen(loop, path, 0660);
    REQUIRE(l.ok());
    CancelSource src;
    TaskScope scope(loop);
    Errc accept_res = Errc::ok;
    auto acc = [](UnixListener& l, CancelToken tok, Errc* out) -> Task<void> {
      auto s = co_await l.accept(tok);
      *out = s ? Errc::ok : s.error().code;
    };
    scope.spawn(acc(**l, src.token(), &accept_res));
    (void)co_await sleep_for(loop, 5);
    src.cancel();
    co_await scope.join();
    CHECK(accept_res == Errc::cancelled);

    // A read waiting on a connected stream, cancelled; then the stream still works.
    auto c = co_await UnixStream::connect(loop, path);
    REQUIRE(c.ok());
    auto s = co_await (*l)->accept();
    REQUIRE(s.ok());
    CancelSource rs;
    Errc read_res = Errc::ok;
    auto rd = [](UnixStream& s, CancelToken tok, Errc* out) -> Task<void> {
      auto line = co_await s.read_line(100, tok);
      *out = line ? Errc::ok : line.error().code;
    };
    scope.spawn(rd(**s, rs.token(), &read_res));
    (void)co_await sleep_for(loop, 5);
    rs.cancel();
    co_await scope.join();
    CHECK(read_res == Errc::cancelled);
    {
      Result<void> w_ = co_await (*c)->write_all("after\n");
      REQUIRE(w_.ok());
    }
    auto line = co_await (*s)->read_line(100);
    REQUIRE(line.ok());
    CHECK(*line == "after");

    auto none = co_await UnixStream::connect(loop, path + ".missing");
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().code == Errc::io);
  };
  run_until_complete(loop, main(loop, path));
}
