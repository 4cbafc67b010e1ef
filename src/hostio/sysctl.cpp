#include "hostio/sysctl.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ptun::hostio {

std::string sysctl_path(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.front() == '.' || name.find("..") != std::string_view::npos) return "";
  std::string rel(name);
  if (rel.find('/') == std::string::npos)
    for (auto& c : rel)
      if (c == '.') c = '/';
  return "/proc/sys/" + rel;
}

Result<std::string> read_sysctl(std::string_view name) {
  std::string p = sysctl_path(name);
  if (p.empty()) return Error(Errc::invalid_argument, "bad sysctl name '" + std::string(name) + "'");
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(errno == ENOENT ? Errc::not_found : Errc::io, "cannot read " + p + ": " + std::strerror(errno));
  std::string v;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && v.size() < 4096) v.append(buf, size_t(n));
  int e = errno;
  ::close(fd);
  if (n < 0) return Error::from_errno("read " + p, e);
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
  return v;
}

Result<void> write_sysctl(std::string_view name, std::string_view value) {
  std::string p = sysctl_path(name);
  if (p.empty()) return Error(Errc::invalid_argument, "bad sysctl name '" + std::string(name) + "'");
  int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Error(errno == ENOENT ? Errc::not_found : Errc::io, "cannot write " + p + ": " + std::strerror(errno));
  std::string v(value);
  v += "\n";
  ssize_t w = ::write(fd, v.data(), v.size());
  int e = errno;
  ::close(fd);
  if (w != ssize_t(v.size())) return Error::from_errno("write " + p, w < 0 ? e : EIO);
  return {};
}

}  // namespace ptun::hostio
