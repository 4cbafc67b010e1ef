// The control socket of a running client or server: a Unix stream socket (JSON lines, see
// protocol.hpp) in a root-owned directory, mode 0660, group = the configured control group.
// Only root, the daemon's own uid, or members of that group (by SO_PEERCRED gid) are served.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "control/protocol.hpp"
#include "core/core.hpp"

namespace ptun::control {

class ControlServer {
 public:
  // The handler runs on the loop thread; errors become error replies.
  using Handler = std::function<Result<nlohmann::json>(const Request&)>;

  // Creates the directory (0755, if missing) and the socket. A second instance on the same path
  // gets Errc::exists ("another ptun is running on PATH").
  static Result<std::unique_ptr<ControlServer>> open(core::Loop& loop, const std::string& path,
                                                     const std::string& group, Handler handler);
  ~ControlServer();

  // Accepts and serves connections until `stop` is cancelled; joins its connections.
  core::Task<void> run(core::CancelToken stop);
  const std::string& path() const { return path_; }

 private:
  ControlServer(core::Loop& loop, std::string path, int gid, Handler handler);
  core::Task<void> serve(std::unique_ptr<core::UnixStream> s, core::CancelToken stop);
  bool allowed(uint32_t uid, uint32_t gid) const;

  core::Loop& loop_;
  std::string path_;
  int gid_;  // -1: no group configured
  Handler handler_;
  std::unique_ptr<core::UnixListener> listener_;
};

}  // namespace ptun::control
