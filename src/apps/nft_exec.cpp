#include "apps/nft_exec.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace ptun::apps {

Result<void> run_nft(const std::string& script) {
  int in[2], err[2];
  if (::pipe2(in, O_CLOEXEC) < 0) return Error::from_errno("pipe", errno);
  if (::pipe2(err, O_CLOEXEC) < 0) {
    ::close(in[0]);
    ::close(in[1]);
    return Error::from_errno("pipe", errno);
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  const char* argv[] = {"nft", "-f", "-", nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, "nft", &fa, nullptr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(err[0]);
    return Error(rc == ENOENT ? Errc::not_found : Errc::io, "cannot run nft: " + std::string(strerror(rc)));
  }
  size_t off = 0;
  while (off < script.size()) {   // scripts are a few KB: the pipe takes them whole
    ssize_t n = ::write(in[1], script.data() + off, script.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += size_t(n);
  }
  ::close(in[1]);
  std::string msg;
  char buf[512];
  for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0 && msg.size() < 4096;) msg.append(buf, size_t(n));
  ::close(err[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  return Error(Errc::io, "nft: " + (msg.empty() ? std::string("failed") : msg));
}

Result<std::string> read_sysctl(const std::string& name) {
  std::ifstream f("/proc/sys/" + name);
  if (!f) return Error(Errc::not_found, "no sysctl " + name);
  std::string v;
  std::getline(f, v);
  return v;
}

Result<void> write_sysctl(const std::string& name, const std::string& value) {
  std::ofstream f("/proc/sys/" + name);
  f << value << "\n";
  f.flush();
  if (!f) return Error(Errc::io, "cannot write sysctl " + name);
  return {};
}

}  // namespace ptun::apps
