#include "apps/cgroup.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace ptun::apps {

namespace {
// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' &&
        s[i + 3] <= '7') {
      out += char((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

Result<CgroupMount> parse_mountinfo(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    // ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS
    size_t sep = line.find(" - ");
    if (sep == std::string_view::npos) continue;
    std::string_view tail = line.substr(sep + 3);
    if (tail.substr(0, tail.find(' ')) != "cgroup2") continue;
    std::string_view f[5];
    size_t p = 0;
    bool ok = true;
    for (auto& field : f) {
      size_t q = line.find(' ', p);
      if (q == std::string_view::npos || q > sep) {
        ok = false;
        break;
      }
      field = line.substr(p, q - p);
      p = q + 1;
    }
    if (!ok) continue;
    return CgroupMount{unescape(f[4]), unescape(f[3])};
  }
  return Error(Errc::not_found, "no cgroup2 hierarchy is mounted");
}

Result<CgroupMount> find_cgroup2() { return parse_mountinfo(read_all("/proc/self/mountinfo")); }

std::string parse_proc_cgroup(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.substr(0, 3) == "0::") return std::string(line.substr(3));
  }
  return "";
}

NftCgroup nft_cgroup(const CgroupMount& m, const std::string& cgroup) {
  NftCgroup out;
  std::string full = (m.root == "/" ? "" : m.root) + cgroup;   // depth counts from the real root
  for (char c : full) out.level += c == '/';
  const std::string base = "/sys/fs/cgroup";
  if (m.mount_point == base)
    out.path = cgroup.substr(1);
  else if (m.mount_point.compare(0, base.size() + 1, base + "/") == 0)
    out.path = m.mount_point.substr(base.size() + 1) + cgroup;
  else
    out.path = "../../.." + m.mount_point + cgroup;
  return out;
}

Result<void> make_cgroup(const CgroupMount& m, const std::string& cgroup) {
  std::string dir = m.mount_point;
  size_t i = 1;
  while (i <= cgroup.size()) {
    size_t j = cgroup.find('/', i);
    if (j == std::string::npos) j = cgroup.size();
    dir += "/" + cgroup.substr(i, j - i);
    if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST)
      return Error::from_errno("cannot create cgroup " + dir, errno);
    i = j + 1;
  }
  return {};
}

void remove_cgroup(const CgroupMount& m, const std::string& cgroup) {
  (void)::rmdir((m.mount_point + cgroup).c_str());
}

Result<void> join_cgroup(const CgroupMount& m, const std::string& cgroup) {
  if (auto r = make_cgroup(m, cgroup); !r) return r;
  std::string dir = m.mount_point + cgroup;
  std::ofstream procs(dir + "/cgroup.procs");
  procs << ::getpid() << "\n";
  procs.flush();
  if (!procs) return Error(Errc::io, "cannot move into cgroup " + dir + " (cgroup.procs)");
  return {};
}

}  // namespace ptun::apps
