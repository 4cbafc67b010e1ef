// See privileges.hpp. Raw capget/capset (linux/capability.h) rather than libcap: three calls do
// not justify a dependency, and the mask arithmetic is spelled out here.
#include "common/privileges.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ptun {
namespace {

struct CapName {
  const char* name;
  int value;
};
// Only what ptun could plausibly keep; every other capability is dropped unconditionally.
constexpr CapName kCaps[] = {
    {"CAP_NET_BIND_SERVICE", CAP_NET_BIND_SERVICE},
    {"CAP_NET_ADMIN", CAP_NET_ADMIN},
    {"CAP_NET_RAW", CAP_NET_RAW},
};

int last_cap() {
  // /proc/sys/kernel/cap_last_cap may exceed the headers' CAP_LAST_CAP on newer kernels.
  int last = CAP_LAST_CAP;
  if (FILE* f = std::fopen("/proc/sys/kernel/cap_last_cap", "r")) {
    int v;
    if (std::fscanf(f, "%d", &v) == 1 && v > 0 && v < 64) last = v;
    std::fclose(f);
  }
  return last;
}

bool cap_get(uint64_t* eff, uint64_t* perm) {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2] = {};
  if (::syscall(SYS_capget, &h, d) != 0) return false;
  if (eff) *eff = d[0].effective | (uint64_t(d[1].effective) << 32);
  if (perm) *perm = d[0].permitted | (uint64_t(d[1].permitted) << 32);
  return true;
}

bool cap_set(uint64_t mask) {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2] = {};
  for (int i = 0; i < 2; ++i) {
    uint32_t m = uint32_t(mask >> (32 * i));
    d[i].effective = d[i].permitted = d[i].inheritable = m;
  }
  return ::syscall(SYS_capset, &h, d) == 0;
}

Error step_failed(const char* step) { return Error::from_errno(std::string("dropping privileges: ") + step, errno); }

}  // namespace

int capability_from_name(const std::string& name) {
  for (const auto& c : kCaps)
    if (name == c.name) return c.value;
  return -1;
}

uint64_t effective_capabilities() {
  uint64_t eff = 0;
  return cap_get(&eff, nullptr) ? eff : 0;
}

Result<void> drop_privileges(const PrivilegeDrop& d) {
  uint64_t keep = 0;
  for (const auto& n : d.keep_caps) {
    int c = capability_from_name(n);
    if (c < 0) return Error(Errc::invalid_argument, "dropping privileges: unknown capability " + n);
    keep |= uint64_t(1) << c;
  }
  // Look the names up while /etc is still readable by us.
  std::vector<char> buf(16384);
  passwd pw, *pwp = nullptr;
  if (::getpwnam_r(d.user.c_str(), &pw, buf.data(), buf.size(), &pwp) != 0 || !pwp)
    return Error(Errc::not_found, "dropping privileges: no user '" + d.user + "'");
  uid_t uid = pw.pw_uid;
  gid_t gid = pw.pw_gid;
  if (!d.group.empty()) {
    std::vector<char> gbuf(16384);
    group gr, *grp = nullptr;
    if (::getgrnam_r(d.group.c_str(), &gr, gbuf.data(), gbuf.size(), &grp) != 0 || !grp)
      return Error(Errc::not_found, "dropping privileges: no group '" + d.group + "'");
    gid = gr.gr_gid;
  }
  if (uid == 0) return Error(Errc::invalid_argument, "dropping privileges: user '" + d.user + "' is root");
  if (::geteuid() != 0) return Error(Errc::io, "dropping privileges: not running as root");

  for (const auto& p : d.hand_over)
    if (::chown(p.c_str(), uid, gid) != 0 && errno != ENOENT)
      return Error::from_errno("dropping privileges: chown " + p, errno);

  // Bounding set first (needs CAP_SETPCAP, which we still have).
  for (int c = 0; c <= last_cap(); ++c)
    if (!(keep & (uint64_t(1) << c)) && ::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
      return step_failed("PR_CAPBSET_DROP");
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return step_failed("PR_SET_KEEPCAPS");
  if (::setgroups(1, &gid) != 0) return step_failed("setgroups");
  if (::setresgid(gid, gid, gid) != 0) return step_failed("setresgid");
  if (::setresuid(uid, uid, uid) != 0) return step_failed("setresuid");
  if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return step_failed("PR_SET_KEEPCAPS off");
  // setresuid cleared the effective set; permitted still holds everything: trim it to `keep`.
  if (!cap_set(keep)) return step_failed("capset");
  for (const auto& n : d.keep_caps)
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, capability_from_name(n), 0, 0) != 0)
      return step_failed("PR_CAP_AMBIENT_RAISE");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return step_failed("PR_SET_NO_NEW_PRIVS");

  // Verify rather than trust: ids, capability sets, and that root cannot be regained.
  uint64_t eff = 0, perm = 0;
  if (!cap_get(&eff, &perm)) return step_failed("capget");
  uid_t r, e, s;
  if (::getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid || eff != keep || perm != keep)
    return Error(Errc::io, "dropping privileges: the process still holds more than it should");
  if (::setuid(0) == 0) return Error(Errc::io, "dropping privileges: could switch back to root");
  return {};
}

uint64_t raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return uint64_t(rl.rlim_cur);
}

}  // namespace ptun
