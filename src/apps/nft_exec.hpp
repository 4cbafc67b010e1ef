// Running `nft -f -` with a script on stdin (the I/O edge of app_firewall.hpp), and the one
// sysctl per-app routing needs. Setup/teardown time only.
#pragma once
#include <string>

#include "common/result.hpp"

namespace ptun::apps {

// Errc::io with nft's stderr when it fails, Errc::not_found if nft is not installed.
Result<void> run_nft(const std::string& script);

// Reads and writes a /proc/sys file (e.g. net/ipv4/conf/all/src_valid_mark).
Result<std::string> read_sysctl(const std::string& name);
Result<void> write_sysctl(const std::string& name, const std::string& value);

}  // namespace ptun::apps
