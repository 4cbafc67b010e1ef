// Running a host program (nft, ip, resolvectl, dnsmasq's init script): the one way ptun spawns
// one, for every role and the CLI. posix_spawn (no fork of a big process), stdin fed and stdout+
// stderr read together through poll (neither side can block the other), bounded in time and in
// what is kept of the output, and safe against SIGPIPE when the program exits without reading
// its input (the signal is blocked and consumed on the calling thread only).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace ptun::hostio {

struct RunOptions {
  std::string input;                 // written to its stdin, which is then closed
  int timeout_ms = 10000;            // then it is killed (SIGKILL) and the call fails: Errc::timeout
  size_t max_output = 64 * 1024;     // kept of stdout+stderr; the rest is read and dropped
};

// argv[0] without a '/' is looked up in /usr/sbin, /sbin, /usr/bin and /bin, in that order (a
// daemon's PATH may lack the sbin directories). Ok: what it wrote (stdout and stderr together).
// Errors: not_found (no such program; the message says "<name> not found"), timeout, io (a non-zero
// exit status, killed by a signal, or it exited before reading all its input; the message carries
// "<name> failed: " and its output, newlines as spaces, at most 4 KiB), invalid_argument (empty argv).
Result<std::string> run(const std::vector<std::string>& argv, const RunOptions& o = {});

// `nft -f -` with `script` on stdin: one nftables transaction (every ruleset ptun installs).
// Errors as run()'s: not_found "nft not found" when nftables is not installed.
Result<void> run_nft(const std::string& script);
// Removes an nftables table, whether or not it exists (nft_script.hpp: nft_remove_table_script).
// Errors as run_nft's; invalid_argument for a bad table name.
Result<void> remove_nft_table(std::string_view table);

// Where run() would find argv[0] ("" if nowhere).
std::string find_program(const std::string& name);

}  // namespace ptun::hostio
