// Human-readable rendering of the control socket's answers, in the manner of `wg show`.
#pragma once
#include <nlohmann/json.hpp>

namespace ptun::cli {

void print_status(const nlohmann::json& status);
void print_sessions(const nlohmann::json& sessions);
std::string human_bytes(uint64_t n);

}  // namespace ptun::cli
