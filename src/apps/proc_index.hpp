// Socket inode -> process, by walking /proc/PID/fd. The walk is the expensive part of app
// attribution, so it is cached: one walk records every socket of every process it visits (a later
// flow of the same process is a cache hit), processes are skipped unless their owner is the
// socket's uid, and walks are rate-limited (a flood of new flows from unknown sockets costs a
// bounded number of walks per second; what cannot be looked up is reported unknown, not guessed).
// Process details (exe, cgroup) are cached per (pid, start time) so a reused pid is not confused
// with the process that had it before.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace ptun::apps {

struct ProcInfo {
  int pid = 0;
  std::string exe;      // readlink /proc/PID/exe ("" if unreadable: kernel thread, gone)
  std::string cgroup;   // cgroup v2 path
};

struct ProcIndexStats {
  uint64_t walks = 0, hits = 0, misses = 0, rate_limited = 0;
};

class ProcIndex {
 public:
  // proc_root: "/proc" (tests may point elsewhere). At most `walks_per_sec` walks per second.
  explicit ProcIndex(std::string proc_root = "/proc", uint32_t walks_per_sec = 20);
  // The process holding socket `inode` owned by `uid`, or nullopt (not found, rate-limited).
  std::optional<ProcInfo> find(uint64_t inode, uint32_t uid, uint64_t now_ms);
  const ProcIndexStats& stats() const { return stats_; }

 private:
  void walk(uint32_t uid);
  std::optional<ProcInfo> info(int pid);

  std::string root_;
  uint32_t walks_per_sec_;
  uint64_t window_start_ = 0;
  uint32_t window_walks_ = 0;
  std::unordered_map<uint64_t, int> inode_pid_;   // bounded: cleared past kMaxInodes
  struct Cached {
    uint64_t start = 0;
    ProcInfo info;
  };
  std::unordered_map<int, Cached> procs_;         // bounded: cleared past kMaxProcs
  ProcIndexStats stats_;
};

}  // namespace ptun::apps
