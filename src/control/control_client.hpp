// The CLI's side of the control socket: connect, send one request line, read one response line.
// Blocking with a timeout; used by `ptun status`, `ptun sessions`, `ptun kick`, ...
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.hpp"

namespace ptun::control {

// Returns the "result" of an ok response, or an Error carrying the server's error text
// (Errc::protocol) or the connection failure (Errc::io / Errc::timeout).
Result<nlohmann::json> call(const std::string& socket_path, const nlohmann::json& request,
                            int timeout_ms = 5000);

}  // namespace ptun::control
