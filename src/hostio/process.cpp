#include "hostio/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "hostio/nft_script.hpp"

extern char** environ;

namespace ptun::hostio {
namespace {

using Clock = std::chrono::steady_clock;

struct Fd {
  int fd = -1;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// SIGPIPE blocked on this thread for the scope; one raised by a write meanwhile is consumed, so
// a program that exits without reading its input cannot end ptun.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, &old_);
  }
  ~SigpipeGuard() {
    sigset_t s, pending;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) && !sigismember(&old_, SIGPIPE)) {
      timespec zero{0, 0};
      while (sigtimedwait(&s, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t old_;
};

std::string flat(std::string s) {
  if (s.size() > 4096) s.resize(4096);
  for (auto& c : s)
    if (c == '\n') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    std::string p = dir + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

Result<std::string> run(const std::vector<std::string>& argv, const RunOptions& o) {
  if (argv.empty() || argv[0].empty()) return Error(Errc::invalid_argument, "run: empty command");
  std::string path = find_program(argv[0]);
  if (path.empty()) return Error(Errc::not_found, argv[0] + " not found");
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) < 0) return Error::from_errno("pipe", errno);
  Fd in_r{in[0]}, in_w{in[1]};
  if (::pipe2(out, O_CLOEXEC) < 0) return Error::from_errno("pipe", errno);
  Fd out_r{out[0]}, out_w{out[1]};

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_r.fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&fa, out_w.fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, def;
  sigemptyset(&none);
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);     // not the caller's blocked signals
  posix_spawnattr_setsigdefault(&attr, &def);   // nor its ignored SIGPIPE
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, path.c_str(), &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Error(rc == ENOENT ? Errc::not_found : Errc::io, "cannot run " + argv[0] + ": " + std::strerror(rc));
  in_r.reset();
  out_w.reset();

  std::string output;
  size_t off = 0;
  bool input_short = false, timed_out = false;
  {
    SigpipeGuard guard;
    ::fcntl(in_w.fd, F_SETFL, O_NONBLOCK);
    if (o.input.empty()) in_w.reset();
    auto deadline = Clock::now() + std::chrono::milliseconds(o.timeout_ms);
    while (out_r.fd >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      pollfd p[2] = {{out_r.fd, POLLIN, 0}, {in_w.fd, POLLOUT, 0}};
      int n = ::poll(p, in_w.fd >= 0 ? 2 : 1, int(left));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      if (in_w.fd >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t w = ::write(in_w.fd, o.input.data() + off, o.input.size() - off);
        if (w > 0) off += size_t(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) input_short = true;   // EPIPE: it stopped reading
        if (off == o.input.size() || input_short) in_w.reset();
      }
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[4096];
        ssize_t r = ::read(out_r.fd, buf, sizeof buf);
        if (r > 0) {
          if (output.size() < o.max_output) output.append(buf, std::min(size_t(r), o.max_output - output.size()));
        } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
          out_r.reset();   // EOF: every writer (the program and its children) is done
        }
      }
    }
    in_w.reset();   // a write after this point cannot happen: the guard may end
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return Error(Errc::timeout, argv[0] + " did not finish within " + std::to_string(o.timeout_ms) + " ms");
  if (!WIFEXITED(status)) return Error(Errc::io, argv[0] + " failed: killed by signal " + std::to_string(WTERMSIG(status)));
  if (WEXITSTATUS(status) != 0) return Error(Errc::io, argv[0] + " failed: " + flat(output));
  if (input_short || off < o.input.size())
    return Error(Errc::io, argv[0] + " failed: it exited before reading its input; " + flat(output));
  return output;
}

Result<void> run_nft(const std::string& script) {
  RunOptions o;
  o.input = script;
  auto r = run({"nft", "-f", "-"}, o);
  if (!r) return r.error();
  return {};
}

Result<void> remove_nft_table(std::string_view table) {
  auto script = nft_remove_table_script(table);
  if (!script) return script.error();
  return run_nft(*script);
}

}  // namespace ptun::hostio
