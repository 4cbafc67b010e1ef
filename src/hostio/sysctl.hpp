// /proc/sys, the one helper for every role: forwarding on the server, src_valid_mark for per-app
// routing on the client.
#pragma once
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace ptun::hostio {

// "net.ipv4.ip_forward" or "net/ipv4/ip_forward" -> "/proc/sys/net/ipv4/ip_forward". Dots become
// slashes only in a name without any slash (an interface name may hold a dot: give those slashed).
// "" for a name that is empty, absolute, or holds ".." (nothing outside /proc/sys).
std::string sysctl_path(std::string_view name);

// The value without its trailing newline. Errors: invalid_argument (a bad name), not_found, io.
Result<std::string> read_sysctl(std::string_view name);
Result<void> write_sysctl(std::string_view name, std::string_view value);

}  // namespace ptun::hostio
