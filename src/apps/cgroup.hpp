// cgroup v2: where the hierarchy is mounted (from /proc/self/mountinfo: /sys/fs/cgroup on most
// systems, /sys/fs/cgroup/unified on hybrid ones), which cgroup a process is in, and moving the
// calling process into an app's cgroup for `ptun exec`. Parsers are pure; the rest is thin I/O.
#pragma once
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace ptun::apps {

struct CgroupMount {
  std::string mount_point;   // e.g. /sys/fs/cgroup/unified
  std::string root;          // the mount's root inside the hierarchy, usually "/"
};

// The first cgroup2 mount in mountinfo text. Errc::not_found if there is none (a cgroup v1-only
// system, or a mount namespace without it).
Result<CgroupMount> parse_mountinfo(std::string_view text);
Result<CgroupMount> find_cgroup2();   // reads /proc/self/mountinfo

// The cgroup v2 path from /proc/PID/cgroup text (its "0::/path" line); "" if absent.
std::string parse_proc_cgroup(std::string_view text);

// How nft names a cgroup: nft resolves `socket cgroupv2 level N "PATH"` as /sys/fs/cgroup/PATH,
// so a hierarchy mounted elsewhere is reached through "../../../" + mount point. `level` is the
// cgroup's depth below the hierarchy's root (what the kernel compares).
struct NftCgroup {
  std::string path;
  unsigned level = 0;
};
NftCgroup nft_cgroup(const CgroupMount& m, const std::string& cgroup);

// Creates mount_point + cgroup and its parents if needed (nft resolves a cgroup path to its id
// when the rule is loaded, so the group must exist first).
Result<void> make_cgroup(const CgroupMount& m, const std::string& cgroup);
// Removes the cgroup if it is empty (best effort; a populated group stays).
void remove_cgroup(const CgroupMount& m, const std::string& cgroup);
// make_cgroup, then moves the calling process into it.
Result<void> join_cgroup(const CgroupMount& m, const std::string& cgroup);

}  // namespace ptun::apps
