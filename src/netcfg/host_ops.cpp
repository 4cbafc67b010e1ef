#include "netcfg/host_ops.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>

namespace ptun::netcfg {

Result<void> run_command(const std::vector<std::string>& argv, const std::string& input, std::string* output) {
  if (argv.empty()) return Error(Errc::invalid_argument, "empty command");
  int in_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) < 0) return Error::from_errno("pipe", errno);
  if (::pipe2(err_pipe, O_CLOEXEC) < 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    return Error::from_errno("pipe", errno);
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> paths;
  if (argv[0].find('/') != std::string::npos) {
    paths.push_back(argv[0]);   // a path (e.g. /etc/init.d/dnsmasq) is run as given
  } else {
    for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) paths.push_back(dir + argv[0]);
  }
  pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno("fork", errno);
  if (pid == 0) {
    ::dup2(in_pipe[0], 0);
    ::dup2(err_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    for (const auto& p : paths) ::execv(p.c_str(), args.data());
    std::fprintf(stderr, "%s not found\n", argv[0].c_str());
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(err_pipe[1]);
  // SIGPIPE would kill ptun if the child exits before reading: ignore it around the write.
  struct sigaction ign{}, old{};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &old);
  size_t off = 0;
  while (off < input.size()) {
    ssize_t w = ::write(in_pipe[1], input.data() + off, input.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += size_t(w);
  }
  ::close(in_pipe[1]);
  ::sigaction(SIGPIPE, &old, nullptr);
  std::string err;
  char buf[512];
  ssize_t n;
  const size_t cap = output ? (4u << 20) : 4096;
  while ((n = ::read(err_pipe[0], buf, sizeof buf)) > 0 && err.size() < cap) err.append(buf, size_t(n));
  ::close(err_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (off != input.size() || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    for (auto& c : err)
      if (c == '\n') c = ' ';
    return Error(Errc::io, argv[0] + " failed: " + err.substr(0, 4096));
  }
  if (output) *output = std::move(err);
  return {};
}

bool resolved_running() { return ::access("/run/systemd/resolve/io.systemd.Resolve", F_OK) == 0; }

Result<void> SystemOps::nft(const std::string& script) { return run_command({"nft", "-f", "-"}, script); }

Result<std::optional<std::string>> SystemOps::read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return Error::from_errno("open " + path, errno);
  }
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && s.size() < (1u << 20)) s.append(buf, size_t(n));
  int err = errno;
  ::close(fd);
  if (n < 0) return Error::from_errno("read " + path, err);
  return std::optional<std::string>(std::move(s));
}

Result<void> SystemOps::write_file(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Error::from_errno("open " + path, errno);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = ::write(fd, data.data() + off, data.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      int err = errno;
      ::close(fd);
      return Error::from_errno("write " + path, err);
    }
    off += size_t(w);
  }
  ::fsync(fd);
  ::close(fd);
  return {};
}

Result<void> SystemOps::remove_file(const std::string& path) {
  if (::unlink(path.c_str()) < 0 && errno != ENOENT) return Error::from_errno("unlink " + path, errno);
  return {};
}

Result<void> SystemOps::run(const std::vector<std::string>& argv) { return run_command(argv); }

}  // namespace ptun::netcfg
