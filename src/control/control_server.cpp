#include "control/control_server.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/log.hpp"

namespace ptun::control {

ControlServer::ControlServer(core::Loop& loop, std::string path, int gid, Handler handler)
    : loop_(loop), path_(std::move(path)), gid_(gid), handler_(std::move(handler)) {}

ControlServer::~ControlServer() {
  if (listener_) ::unlink(path_.c_str());
}

Result<std::unique_ptr<ControlServer>> ControlServer::open(core::Loop& loop, const std::string& path,
                                                           const std::string& group, Handler handler) {
  int gid = -1;
  if (!group.empty()) {
    struct group* g = ::getgrnam(group.c_str());
    if (!g) return Error(Errc::not_found, "control group '" + group + "' does not exist");
    gid = int(g->gr_gid);
  }
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST)
      return Error::from_errno("cannot create " + dir, errno);
  }
  std::unique_ptr<ControlServer> s(new ControlServer(loop, path, gid, std::move(handler)));
  auto l = core::UnixListener::listen(loop, path, 0660);
  if (!l) {
    if (l.error().code == Errc::exists)
      return Error(Errc::exists, "another ptun is already running on " + path);
    return l.error();
  }
  s->listener_ = std::move(*l);
  if (gid >= 0 && ::chown(path.c_str(), uid_t(-1), gid_t(gid)) < 0)
    return Error::from_errno("chown " + path, errno);
  return s;
}

bool ControlServer::allowed(uint32_t uid, uint32_t gid) const {
  if (uid == 0 || uid == ::geteuid()) return true;
  if (gid_ < 0) return false;
  if (gid == uint32_t(gid_)) return true;
  // SO_PEERCRED carries only the primary gid: a member of the group through its supplementary
  // groups (as /etc/group lists it) is allowed too.
  struct passwd pw, *res = nullptr;
  char buf[4096];
  if (::getpwuid_r(uid_t(uid), &pw, buf, sizeof buf, &res) != 0 || !res) return false;
  gid_t groups[256];
  int n = 256;
  if (::getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0) return false;
  for (int i = 0; i < n; ++i)
    if (groups[i] == gid_t(gid_)) return true;
  return false;
}

core::Task<void> ControlServer::run(core::CancelToken stop) {
  core::TaskScope scope(loop_);
  for (;;) {
    auto conn = co_await listener_->accept(stop);
    if (!conn) {
      if (conn.error().code == Errc::cancelled) break;
      LOG_WARN("control: accept failed: %s", conn.error().message.c_str());
      continue;
    }
    std::unique_ptr<core::UnixStream> stream = std::move(*conn);
    if (!allowed(stream->peer_uid(), stream->peer_gid())) {
      LOG_WARN("control: refused uid %u gid %u", stream->peer_uid(), stream->peer_gid());
      stream->close();
      continue;
    }
    scope.spawn(serve(std::move(stream), scope.token()));
  }
  scope.cancel();
  co_await scope.join();
}

core::Task<void> ControlServer::serve(std::unique_ptr<core::UnixStream> s, core::CancelToken stop) {
  for (;;) {
    auto line = co_await s->read_line(kMaxRequestBytes, stop);
    if (!line) {
      if (line.error().code == Errc::limit) {
        auto w = co_await s->write_all(error_response("request too long"), stop);
        (void)w;
      }
      break;
    }
    std::string reply;
    auto req = parse_request(*line);
    if (!req) {
      reply = error_response(req.error().message);
    } else {
      auto r = handler_(*req);
      reply = r ? ok_response(*r) : error_response(r.error().message);
    }
    auto w = co_await s->write_all(std::move(reply), stop);
    if (!w) break;
  }
  s->close();
}

}  // namespace ptun::control
