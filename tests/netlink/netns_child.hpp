// Runs a test body in a forked child inside a fresh network namespace, so tests that need root
// never touch the host's own interfaces, routes or rules. The child reports failed checks through
// a pipe; the parent turns each into a Catch2 failure. Without root (or when unshare(CLONE_NEWNET)
// is refused) the test is skipped visibly with WARN.
//
//   NETNS_TEST_BODY(body)  where body is `void(ChildChecks&)`; inside it use CHILD_CHECK(cond) and
//   CHILD_OK(result) (which returns from the body if the result is an error).
#pragma once
#include <catch2/catch.hpp>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>

namespace ptun::test {

struct ChildChecks {
  std::string failures;  // one line per failed check
  void fail(const char* file, int line, std::string what) {
    for (char& ch : what)
      if (ch == '\n') ch = ' ';  // one line per failure on the pipe
    failures += std::string(file) + ":" + std::to_string(line) + ": " + what + "\n";
  }
};

#define CHILD_CHECK(c, cond)                                 \
  do {                                                       \
    if (!(cond)) (c).fail(__FILE__, __LINE__, "CHECK " #cond); \
  } while (0)
// Evaluates a Result; on error records it and returns from the enclosing body.
#define CHILD_OK(c, expr)                                                           \
  do {                                                                              \
    auto&& child_ok_r_ = (expr);                                                    \
    if (!child_ok_r_.ok()) {                                                        \
      (c).fail(__FILE__, __LINE__, #expr " failed: " + child_ok_r_.error().message); \
      return;                                                                       \
    }                                                                               \
  } while (0)

inline constexpr int kSkipExit = 77;
inline constexpr unsigned kChildTimeoutSec = 30;

// Returns false (after WARN) if the test had to be skipped.
inline bool run_in_netns(const std::function<void(ChildChecks&)>& body) {
  if (geteuid() != 0) {
    WARN("skipped: needs root (CAP_NET_ADMIN in a new network namespace)");
    return false;
  }
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  std::fflush(nullptr);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    alarm(kChildTimeoutSec);  // a hung child dies with SIGALRM instead of hanging the suite
    if (unshare(CLONE_NEWNET) != 0) _exit(errno == EPERM ? kSkipExit : 2);
    ChildChecks c;
    try {
      body(c);
    } catch (const std::exception& e) {
      c.failures += std::string("exception: ") + e.what() + "\n";
    }
    size_t off = 0;
    while (off < c.failures.size()) {
      ssize_t n = write(fds[1], c.failures.data() + off, c.failures.size() - off);
      if (n <= 0) break;
      off += size_t(n);
    }
    _exit(c.failures.empty() ? 0 : 1);  // _exit: no Catch2 reporter or atexit in the child
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) out.append(buf, size_t(n));
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kSkipExit) {
    WARN("skipped: unshare(CLONE_NEWNET) not permitted");
    return false;
  }
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) FAIL_CHECK(line);
  if (WIFSIGNALED(status)) FAIL_CHECK("netns child killed by signal " << WTERMSIG(status));
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == (out.empty() ? 0 : 1)));
  return true;
}

}  // namespace ptun::test
