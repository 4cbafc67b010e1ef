#include "control/protocol.hpp"

namespace ptun::control {

Result<Request> parse_request(std::string_view line) {
  if (line.size() > kMaxRequestBytes) return Error(Errc::limit, "request too long");
  nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error(Errc::invalid_argument, "request is not valid JSON");
  if (!j.is_object()) return Error(Errc::invalid_argument, "request must be a JSON object");
  auto it = j.find("cmd");
  if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().empty())
    return Error(Errc::invalid_argument, "request needs a string \"cmd\"");
  Request r;
  r.cmd = it->get<std::string>();
  r.args = std::move(j);
  return r;
}

std::string ok_response(const nlohmann::json& result) {
  nlohmann::json j = {{"ok", true}, {"result", result}};
  // replace: invalid UTF-8 from anywhere (e.g. a certificate name) must not throw here.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string error_response(const std::string& message) {
  nlohmann::json j = {{"ok", false}, {"error", message}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace ptun::control
