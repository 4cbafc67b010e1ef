#include "netcfg/host_ops.hpp"

#include "hostio/process.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>

namespace ptun::netcfg {

bool resolved_running() { return ::access("/run/systemd/resolve/io.systemd.Resolve", F_OK) == 0; }

Result<void> SystemOps::nft(const std::string& script) { return hostio::run_nft(script); }

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

Result<void> SystemOps::run(const std::vector<std::string>& argv) {
  auto r = hostio::run(argv);
  if (!r) return r.error();
  return {};
}

}  // namespace ptun::netcfg
