// See sd_notify.hpp. The socket is opened per message: ptun sends a handful in its lifetime, and
// no descriptor stays open across the privilege drop.
#include "common/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "common/log.hpp"

namespace ptun::sd {

Result<void> notify_to(std::string_view socket, std::string_view state) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (socket.size() < 2 || (socket[0] != '/' && socket[0] != '@'))
    return Error(Errc::invalid_argument, "NOTIFY_SOCKET '" + std::string(socket) + "' is neither a path nor @abstract");
  if (socket.size() >= sizeof sa.sun_path)
    return Error(Errc::invalid_argument, "NOTIFY_SOCKET is too long");
  std::memcpy(sa.sun_path, socket.data(), socket.size());
  if (socket[0] == '@') sa.sun_path[0] = '\0';   // abstract namespace: no terminating NUL counted
  socklen_t len = socklen_t(offsetof(sockaddr_un, sun_path) + socket.size() + (socket[0] == '/' ? 1 : 0));
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno("notify socket", errno);
  ssize_t n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa), len);
  int err = errno;
  ::close(fd);
  if (n < 0) return Error::from_errno("notify " + std::string(socket), err);
  if (size_t(n) != state.size()) return Error(Errc::io, "notify: short send");
  return {};
}

void notify(std::string_view state) {
  const char* s = std::getenv("NOTIFY_SOCKET");
  if (!s || !*s) return;
  static bool warned = false;
  if (auto r = notify_to(s, state); !r && !warned) {
    warned = true;
    LOG_WARN("systemd notification failed: %s", r.error().message.c_str());
  }
}

std::string reloading_message() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000);
}

}  // namespace ptun::sd
