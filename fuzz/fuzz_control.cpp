// Fuzz target: the control socket's request parser (JSON lines from local users).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "control/protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto r = ptun::control::parse_request(line);
  if (r) {
    (void)ptun::control::ok_response(r->args);
  } else {
    (void)ptun::control::error_response(r.error().message);
  }
  return 0;
}
