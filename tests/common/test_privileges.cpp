// drop_privileges in a forked child (it changes the whole process): ids, capability sets, no way
// back to root. Needs root; without it only the pure parts run.
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <linux/capability.h>

#include "common/privileges.hpp"

using namespace ptun;

TEST_CASE("capability names map to their numbers, others are unknown", "[common][privileges]") {
  CHECK(capability_from_name("CAP_NET_ADMIN") == CAP_NET_ADMIN);
  CHECK(capability_from_name("CAP_NET_RAW") == CAP_NET_RAW);
  CHECK(capability_from_name("CAP_NET_BIND_SERVICE") == CAP_NET_BIND_SERVICE);
  CHECK(capability_from_name("CAP_SYS_ADMIN") == -1);
  CHECK(capability_from_name("cap_net_admin") == -1);
  CHECK(drop_privileges({"nobody", "", {"CAP_SYS_ADMIN"}, {}}).error().code == Errc::invalid_argument);
  CHECK(drop_privileges({"no-such-user-ptun", "", {}, {}}).error().code == Errc::not_found);
  CHECK(drop_privileges({"root", "", {}, {}}).error().code == Errc::invalid_argument);
}

namespace {
// Runs `fn` in a child; returns its exit code (fn's result), or -1 if it died.
template <typename Fn>
int in_child(Fn fn) {
  pid_t pid = fork();
  if (pid == 0) _exit(fn());
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
}  // namespace

TEST_CASE("drop_privileges leaves exactly the kept capabilities and no way back", "[common][privileges]") {
  if (geteuid() != 0) {
    WARN("not root: drop_privileges not exercised");
    return;
  }
  int rc = in_child([] {
    if (!drop_privileges({"nobody", "", {"CAP_NET_ADMIN"}, {}})) return 1;
    if (getuid() != 65534 || geteuid() != 65534) return 2;
    if (effective_capabilities() != (uint64_t(1) << CAP_NET_ADMIN)) return 3;
    if (setuid(0) == 0 || setgid(0) == 0) return 4;
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) return 5;
    if (prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0) return 6;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_ADMIN, 0, 0) != 1) return 7;
    gid_t groups[4];
    if (getgroups(4, groups) != 1 || groups[0] != getgid()) return 8;
    return 0;
  });
  CHECK(rc == 0);
  rc = in_child([] {
    if (!drop_privileges({"nobody", "nogroup", {}, {}})) return 1;
    return effective_capabilities() == 0 && getegid() != 0 ? 0 : 2;
  });
  CHECK(rc == 0);
}
