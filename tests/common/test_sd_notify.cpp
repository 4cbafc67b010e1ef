// sd_notify by hand: datagrams to a bound unix socket (a path and an abstract name), as systemd
// receives them; bad $NOTIFY_SOCKET values are refused with a reason, an unset one is a no-op.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/sd_notify.hpp"

using namespace ptun;

namespace {
// A unix datagram socket bound to `name` (a path, or '@' + an abstract name).
struct Listener {
  int fd = -1;
  explicit Listener(const std::string& name) {
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, name.data(), name.size());
    if (name[0] == '@') sa.sun_path[0] = '\0';
    socklen_t len = socklen_t(offsetof(sockaddr_un, sun_path) + name.size() + (name[0] == '@' ? 0 : 1));
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) == 0);
  }
  ~Listener() { ::close(fd); }
  // The next datagram, or "" after 1 s.
  std::string receive() {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) != 1) return "";
    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, size_t(n)) : "";
  }
};
std::string unique(const char* what) { return std::string(what) + std::to_string(::getpid()); }
}  // namespace

TEST_CASE("sd_notify: a datagram reaches a socket bound to a path", "[common][sd_notify]") {
  std::string path = "/tmp/" + unique("ptun-notify-test-");
  ::unlink(path.c_str());
  Listener l(path);
  REQUIRE(sd::notify_to(path, "READY=1\nSTATUS=listening").ok());
  CHECK(l.receive() == "READY=1\nSTATUS=listening");
  ::unlink(path.c_str());
}

TEST_CASE("sd_notify: '@' names an abstract socket", "[common][sd_notify]") {
  std::string name = "@" + unique("ptun-notify-abstract-");
  Listener l(name);
  REQUIRE(sd::notify_to(name, "STATUS=connected").ok());
  CHECK(l.receive() == "STATUS=connected");
}

TEST_CASE("sd_notify: notify() follows $NOTIFY_SOCKET and does nothing without it", "[common][sd_notify]") {
  std::string name = "@" + unique("ptun-notify-env-");
  Listener l(name);
  ::unsetenv("NOTIFY_SOCKET");
  sd::notify("STATUS=unseen");
  REQUIRE(::setenv("NOTIFY_SOCKET", name.c_str(), 1) == 0);
  sd::notify("READY=1");
  ::unsetenv("NOTIFY_SOCKET");
  CHECK(l.receive() == "READY=1");   // the first datagram: the unset call sent nothing
}

TEST_CASE("sd_notify: RELOADING carries the monotonic clock", "[common][sd_notify]") {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t before = uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000;
  std::string m = sd::reloading_message();
  REQUIRE(m.rfind("RELOADING=1\nMONOTONIC_USEC=", 0) == 0);
  uint64_t usec = std::stoull(m.substr(m.find('=', 12) + 1));
  CHECK(usec >= before);
  CHECK(usec - before < 10'000'000);
}

TEST_CASE("sd_notify: bad socket names are refused with a reason", "[common][sd_notify]") {
  CHECK(sd::notify_to("", "READY=1").error().code == Errc::invalid_argument);
  CHECK(sd::notify_to("relative/path", "READY=1").error().code == Errc::invalid_argument);
  CHECK(sd::notify_to("/" + std::string(200, 'x'), "READY=1").error().code == Errc::invalid_argument);
  auto r = sd::notify_to("/nonexistent-dir-ptun/notify", "READY=1");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::io);
  CHECK(r.error().message.find("No such file") != std::string::npos);
}
