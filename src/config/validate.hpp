// Checks on single values, shared by the server and client readers. Each returns "" when the
// value is acceptable, else the reason (without file/line/key: the reader adds those).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "common/net_addr.hpp"

namespace ptun::config {

// RFC 1123 host name: labels of 1..63 [A-Za-z0-9-] not starting or ending with '-', joined by
// dots, at most 253 characters, no trailing dot.
std::string check_domain(std::string_view s);
// A domain name or an IP address literal.
std::string check_host(std::string_view s);
// Linux interface name: 1..15 printable ASCII characters, no '/', ':' or whitespace, not "." or "..".
std::string check_interface_name(std::string_view s);
std::string check_log_level(std::string_view s);
// A group name for the control socket: 1..32 of [A-Za-z0-9._-], not starting with '-'.
std::string check_group_name(std::string_view s);
// A capability ptun may keep after dropping privileges: CAP_NET_ADMIN, CAP_NET_RAW,
// CAP_NET_BIND_SERVICE (anything else is never needed by the data path).
std::string check_capability(std::string_view s);
// A peer's name (matched against its certificate): 1..64 of [A-Za-z0-9._@-].
std::string check_peer_name(std::string_view s);

// Resolves `s` against `base_dir` (the config file's directory; "" = leave relative) into *out.
// Rejects empty paths, NUL bytes and paths longer than bounds::kMaxPath.
std::string resolve_path(std::string_view base_dir, std::string_view s, std::string* out);
// The file exists, is a regular file and is readable by this process.
std::string check_readable_file(const std::string& path);

// An endpoint to listen on: IP literal and port 1..65535.
std::string parse_listen(std::string_view s, Endpoint* out);
// As parse_listen, and the address must be loopback (127.0.0.0/8 or ::1).
std::string parse_loopback_listen(std::string_view s, Endpoint* out);
// `server = "host[:port]"`: IPv6 literals in brackets; port 1..65535, default kept if omitted.
std::string parse_server_address(std::string_view s, std::string* host, uint16_t* port);

bool overlaps(const Cidr& a, const Cidr& b);

// Appends v to list unless it is already there ("duplicate entry 'X'").
template <typename T>
std::string append_unique(std::vector<T>& list, T v, const std::string& shown) {
  for (const auto& e : list)
    if (e == v) return "duplicate entry '" + shown + "'";
  list.push_back(std::move(v));
  return "";
}

// Parsers usable with TableReader::string_array: "" or the reason.
std::string add_cidr(std::vector<Cidr>& list, const std::string& s);
std::string add_ip(std::vector<IpAddr>& list, const std::string& s);
std::string add_domain(std::vector<std::string>& list, const std::string& s);
// As add_domain, and "" is allowed (it means "all domains").
std::string add_match_domain(std::vector<std::string>& list, const std::string& s);
std::string add_interface(std::vector<std::string>& list, const std::string& s);

// The directory part of a config path, used as the base for relative paths ("" if none).
std::string base_dir_of(const std::string& config_path);

}  // namespace ptun::config
