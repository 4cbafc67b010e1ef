// hostio::run, the one way ptun spawns a host program: input in, output back, exit status,
// missing programs, a hang bounded by the timeout, a program that never reads its input (no
// SIGPIPE reaches the caller), output bounded; and the /proc/sys helper's names.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>

#include "hostio/process.hpp"
#include "hostio/sysctl.hpp"

using namespace ptun;
using namespace ptun::hostio;

TEST_CASE("run: input in, output (stdout and stderr) back", "[hostio]") {
  RunOptions o;
  o.input = "table inet x {\n}\n";
  auto r = run({"sh", "-c", "cat; echo to-stderr >&2"}, o);
  REQUIRE(r);
  CHECK(*r == "table inet x {\n}\nto-stderr\n");
  auto e = run({"sh", "-c", "echo 'Error: No such file\nline 2'; exit 3"});
  REQUIRE_FALSE(e);
  CHECK(e.error().code == Errc::io);
  CHECK(e.error().message == "sh failed: Error: No such file line 2");
}

TEST_CASE("run: a missing program, an empty argv", "[hostio]") {
  auto r = run({"ptun-no-such-program"});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::not_found);
  CHECK(r.error().message == "ptun-no-such-program not found");
  CHECK(find_program("sh") != "");
  CHECK(find_program("/bin/sh") == "/bin/sh");
  CHECK(run({}).error().code == Errc::invalid_argument);
}

TEST_CASE("run: a hang ends at the timeout, the program killed", "[hostio]") {
  RunOptions o;
  o.timeout_ms = 200;
  auto t0 = std::chrono::steady_clock::now();
  auto r = run({"sleep", "10"}, o);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::timeout);
  CHECK(ms < 3000);
}

TEST_CASE("run: a program that exits without reading its input: an error, no SIGPIPE", "[hostio]") {
  // SIGPIPE at its default would end this test process; run() must block and consume it.
  struct sigaction dfl {}, old{};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, &old);
  RunOptions o;
  o.input.assign(1 << 20, 'x');   // far more than a pipe holds
  auto r = run({"true"}, o);
  sigaction(SIGPIPE, &old, nullptr);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::io);
  CHECK(r.error().message.rfind("true failed: it exited before reading its input", 0) == 0);
  sigset_t pending;
  sigpending(&pending);
  CHECK_FALSE(sigismember(&pending, SIGPIPE));
}

TEST_CASE("run: output is bounded, input and output both large without a deadlock", "[hostio]") {
  RunOptions o;
  o.max_output = 4096;
  auto r = run({"head", "-c", "1000000", "/dev/zero"}, o);
  REQUIRE(r);
  CHECK(r->size() == 4096);
  RunOptions big;
  big.input.assign(1 << 20, 'y');   // cat writes back while we still write: poll keeps both moving
  big.max_output = 2 << 20;
  auto echo = run({"cat"}, big);
  REQUIRE(echo);
  CHECK(echo->size() == size_t(1 << 20));
}

TEST_CASE("sysctl names", "[hostio]") {
  CHECK(sysctl_path("net.ipv4.ip_forward") == "/proc/sys/net/ipv4/ip_forward");
  CHECK(sysctl_path("net/ipv4/conf/all/src_valid_mark") == "/proc/sys/net/ipv4/conf/all/src_valid_mark");
  CHECK(sysctl_path("net/ipv4/conf/eth0.5/rp_filter") == "/proc/sys/net/ipv4/conf/eth0.5/rp_filter");
  CHECK(sysctl_path("") == "");
  CHECK(sysctl_path("/etc/passwd") == "");
  CHECK(sysctl_path("net/../../etc/passwd") == "");
  auto v = read_sysctl("kernel.ostype");
  REQUIRE(v);
  CHECK(*v == "Linux");
  CHECK(read_sysctl("net.ptun.no_such_key").error().code == Errc::not_found);
  CHECK(write_sysctl("../x", "1").error().code == Errc::invalid_argument);
}
