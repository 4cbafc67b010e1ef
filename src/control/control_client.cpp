#include "control/control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "control/protocol.hpp"

namespace ptun::control {
namespace {

struct Fd {
  int fd = -1;
  ~Fd() { if (fd >= 0) ::close(fd); }
};

bool wait_fd(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  int r;
  do { r = ::poll(&p, 1, timeout_ms); } while (r < 0 && errno == EINTR);
  return r > 0;
}

}  // namespace

Result<nlohmann::json> call(const std::string& path, const nlohmann::json& request, int timeout_ms) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return Error(Errc::invalid_argument, "socket path too long");
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  Fd s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (s.fd < 0) return Error::from_errno("socket", errno);
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0)
    return Error::from_errno("cannot reach " + path + " (is ptun running?)", errno);
  std::string line = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  size_t off = 0;
  while (off < line.size()) {
    if (!wait_fd(s.fd, POLLOUT, timeout_ms)) return Error(Errc::timeout, "timeout writing to " + path);
    ssize_t n = ::send(s.fd, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Error::from_errno("write " + path, errno);
    }
    off += size_t(n);
  }
  std::string reply;
  char buf[4096];
  while (reply.find('\n') == std::string::npos) {
    if (reply.size() > (16u << 20)) return Error(Errc::limit, "response too long");
    if (!wait_fd(s.fd, POLLIN, timeout_ms)) return Error(Errc::timeout, "timeout waiting for " + path);
    ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Error::from_errno("read " + path, errno);
    }
    if (n == 0) return Error(Errc::closed, "connection closed by ptun");
    reply.append(buf, size_t(n));
  }
  reply.resize(reply.find('\n'));
  auto j = nlohmann::json::parse(reply, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok"))
    return Error(Errc::protocol, "malformed response from ptun");
  if (!j["ok"].is_boolean() || !j["ok"].get<bool>()) {
    std::string msg = j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>()
                                                                     : "request failed";
    return Error(Errc::protocol, msg);
  }
  return j.contains("result") ? j["result"] : nlohmann::json::object();
}

}  // namespace ptun::control
