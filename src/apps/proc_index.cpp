#include "apps/proc_index.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "apps/cgroup.hpp"

namespace ptun::apps {

namespace {
constexpr size_t kMaxInodes = 1 << 16, kMaxProcs = 1 << 14;

std::string read_small(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
// Field 22 (starttime) of /proc/PID/stat; the command name (field 2) may contain spaces and
// parentheses, so count from the last ')'.
uint64_t start_time(const std::string& stat) {
  size_t p = stat.rfind(')');
  if (p == std::string::npos) return 0;
  std::istringstream in(stat.substr(p + 2));
  std::string tok;
  for (int field = 3; field <= 22 && (in >> tok); ++field)
    if (field == 22) return std::strtoull(tok.c_str(), nullptr, 10);
  return 0;
}
bool all_digits(const char* s) {
  if (!*s) return false;
  for (; *s; ++s)
    if (*s < '0' || *s > '9') return false;
  return true;
}
}  // namespace

ProcIndex::ProcIndex(std::string proc_root, uint32_t walks_per_sec)
    : root_(std::move(proc_root)), walks_per_sec_(walks_per_sec) {}

std::optional<ProcInfo> ProcIndex::find(uint64_t inode, uint32_t uid, uint64_t now_ms) {
  auto it = inode_pid_.find(inode);
  if (it == inode_pid_.end()) {
    if (now_ms >= window_start_ + 1000) {
      window_start_ = now_ms;
      window_walks_ = 0;
    }
    if (window_walks_ >= walks_per_sec_) {
      ++stats_.rate_limited;
      return std::nullopt;
    }
    ++window_walks_;
    walk(uid);
    it = inode_pid_.find(inode);
    if (it == inode_pid_.end()) {
      ++stats_.misses;
      return std::nullopt;
    }
  } else {
    ++stats_.hits;
  }
  auto p = info(it->second);
  if (!p) inode_pid_.erase(it);   // the process is gone
  return p;
}

void ProcIndex::walk(uint32_t uid) {
  ++stats_.walks;
  if (inode_pid_.size() > kMaxInodes) inode_pid_.clear();
  DIR* d = ::opendir(root_.c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    if (!all_digits(e->d_name)) continue;
    std::string pdir = root_ + "/" + e->d_name;
    struct stat st;
    if (::stat(pdir.c_str(), &st) < 0 || st.st_uid != uid) continue;
    std::string fddir = pdir + "/fd";
    DIR* fds = ::opendir(fddir.c_str());
    if (!fds) continue;
    int pid = std::atoi(e->d_name);
    while (dirent* f = ::readdir(fds)) {
      if (f->d_name[0] == '.') continue;
      char target[64];
      ssize_t n = ::readlink((fddir + "/" + f->d_name).c_str(), target, sizeof target - 1);
      if (n <= 9 || std::memcmp(target, "socket:[", 8) != 0) continue;
      target[n] = 0;
      inode_pid_[std::strtoull(target + 8, nullptr, 10)] = pid;
    }
    ::closedir(fds);
  }
  ::closedir(d);
}

std::optional<ProcInfo> ProcIndex::info(int pid) {
  std::string pdir = root_ + "/" + std::to_string(pid);
  uint64_t start = start_time(read_small(pdir + "/stat"));
  if (start == 0) return std::nullopt;
  auto it = procs_.find(pid);
  if (it != procs_.end() && it->second.start == start) return it->second.info;
  if (procs_.size() > kMaxProcs) procs_.clear();
  ProcInfo p;
  p.pid = pid;
  char exe[4096];
  ssize_t n = ::readlink((pdir + "/exe").c_str(), exe, sizeof exe - 1);
  if (n > 0) p.exe.assign(exe, size_t(n));
  p.cgroup = parse_proc_cgroup(read_small(pdir + "/cgroup"));
  procs_[pid] = Cached{start, p};
  return p;
}

}  // namespace ptun::apps
