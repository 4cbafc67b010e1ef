// The control socket's protocol: JSON lines. One request per line, one response per line.
//   request:  {"cmd": "status", ...args}
//   response: {"ok": true, "result": {...}}  or  {"ok": false, "error": "one line"}
// Pure code: parsing and formatting only; the socket lives in control_server / control_client.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace ptun::control {

inline constexpr size_t kMaxRequestBytes = 64 * 1024;

struct Request {
  std::string cmd;       // "status", "stats", "sessions", "kick", "stop", "message", ...
  nlohmann::json args;   // the whole request object (commands read their own keys)
};

// Parses one request line. Errors (not JSON, not an object, no string "cmd", too long) are
// returned as values, never thrown, so a malformed request gets an error reply.
Result<Request> parse_request(std::string_view line);

std::string ok_response(const nlohmann::json& result);
std::string error_response(const std::string& message);

}  // namespace ptun::control
