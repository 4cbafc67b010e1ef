// Config parsing from arbitrary bytes: the screen, toml++ and both roles' validation must turn
// every input into a value or an Error, never a crash, leak or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto role = ptun::config::detect_role(text, "fuzz.toml");
  auto server = ptun::config::parse_server(text, "/etc/ptun/fuzz.toml");
  auto client = ptun::config::parse_client(text, "fuzz.toml");
  // Whatever validates must survive the round trip through to_toml.
  if (server) {
    auto again = ptun::config::parse_server(ptun::config::to_toml(*server), "/etc/ptun/fuzz.toml");
    if (!again || !(*again == *server)) __builtin_trap();
  }
  if (client) {
    // to_toml never prints an inline key (key_pem becomes a comment): compare what it does print,
    // with a key path in the key's place.
    auto shown = *client;
    if (!shown.key_pem.empty()) {
      shown.key_pem.clear();
      shown.key = "/etc/ptun/fuzz-key.pem";
    }
    auto again = ptun::config::parse_client(ptun::config::to_toml(shown), "fuzz.toml");
    if (!again || !(*again == shown)) __builtin_trap();
  }
  (void)role;
  return 0;
}
