// The control socket end to end in one process: the server on the loop, the blocking CLI client
// on a thread. Handler errors and malformed lines get error replies; the connection survives them.
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "control/control_client.hpp"
#include "control/control_server.hpp"
#include "core/run.hpp"

using namespace ptun;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/ptun-ctl-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path + "'";
    (void)std::system(cmd.c_str());
  }
};

// Sends raw bytes and reads one reply line (a client that does not speak JSON).
std::string raw_exchange(const std::string& path, const std::string& bytes) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    ::close(fd);
    return "connect failed";
  }
  (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  std::string out;
  char c;
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (::recv(fd, &c, 1, 0) == 1 && c != '\n') out += c;
  ::close(fd);
  return out;
}

core::Task<void> serve_until(core::Loop& loop, control::ControlServer& srv, std::atomic<bool>& done) {
  core::CancelSource stop;
  core::TaskScope scope(loop);
  scope.spawn(srv.run(stop.token()));
  for (int i = 0; i < 500 && !done.load(); ++i) (void)co_await core::sleep_for(loop, 10);
  stop.cancel();
  co_await scope.join();
}

}  // namespace

TEST_CASE("control server: commands, handler errors, malformed requests", "[control]") {
  core::Loop loop;
  TempDir dir;
  std::string path = dir.path + "/run/ctl.sock";
  int calls = 0;
  auto srv = control::ControlServer::open(loop, path, "", [&](const control::Request& r) -> Result<nlohmann::json> {
    ++calls;
    if (r.cmd == "status") return nlohmann::json{{"state", "connected"}};
    if (r.cmd == "kick") {
      if (!r.args.contains("peer") || !r.args["peer"].is_string())
        return Error(Errc::invalid_argument, "kick needs a string \"peer\"");
      return nlohmann::json{{"kicked", r.args["peer"]}};
    }
    return Error(Errc::invalid_argument, "unknown command '" + r.cmd + "'");
  });
  REQUIRE(srv.ok());
  struct stat sb;
  REQUIRE(::stat(path.c_str(), &sb) == 0);
  CHECK((sb.st_mode & 0777) == 0660);
  // A second instance on the same path is refused.
  auto again = control::ControlServer::open(loop, path, "", [](const control::Request&) -> Result<nlohmann::json> {
    return nlohmann::json{};
  });
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == Errc::exists);

  std::atomic<bool> done{false};
  Result<nlohmann::json> status = Error(Errc::io, "not run"), unknown = status, kick_bad = status, kick = status;
  std::string garbage, two_lines;
  std::thread client([&] {
    status = control::call(path, {{"cmd", "status"}});
    unknown = control::call(path, {{"cmd", "frobnicate"}});
    kick_bad = control::call(path, {{"cmd", "kick"}, {"peer", 7}});
    kick = control::call(path, {{"cmd", "kick"}, {"peer", "c1"}});
    garbage = raw_exchange(path, "this is not json\n");
    two_lines = raw_exchange(path, "{\"cmd\":\n");
    done = true;
  });
  core::run_until_complete(loop, serve_until(loop, **srv, done));
  client.join();
  REQUIRE(status.ok());
  CHECK((*status)["state"] == "connected");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message == "unknown command 'frobnicate'");
  REQUIRE_FALSE(kick_bad.ok());
  CHECK(kick_bad.error().message.find("string \"peer\"") != std::string::npos);
  REQUIRE(kick.ok());
  CHECK((*kick)["kicked"] == "c1");
  CHECK(nlohmann::json::parse(garbage)["ok"] == false);
  CHECK(nlohmann::json::parse(garbage)["error"] == "request is not valid JSON");
  CHECK(nlohmann::json::parse(two_lines)["ok"] == false);
  CHECK(calls == 4);   // malformed lines never reach the handler
}

TEST_CASE("control server: an unknown group is an error at open", "[control]") {
  core::Loop loop;
  TempDir dir;
  auto srv = control::ControlServer::open(loop, dir.path + "/x.sock", "no-such-group-ptun",
                                          [](const control::Request&) -> Result<nlohmann::json> { return nlohmann::json{}; });
  REQUIRE_FALSE(srv.ok());
  CHECK(srv.error().code == Errc::not_found);
}
