#include "common/fingerprint.hpp"

namespace ptun {

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string fingerprint_str(const Fingerprint& f) {
  static const char* hex = "0123456789abcdef";
  std::string s = "sha256:";
  for (uint8_t b : f) {
    s += hex[b >> 4];
    s += hex[b & 15];
  }
  return s;
}

std::string parse_fingerprint(std::string_view s, Fingerprint* out) {
  constexpr std::string_view kWant =
      "a SHA-256 fingerprint is \"sha256:\" and 64 hex digits (or 32 pairs separated by ':')";
  std::string_view h = s;
  if (h.size() >= 7) {
    std::string prefix(h.substr(0, 7));
    for (char& c : prefix) c = char(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (prefix == "sha256:") h.remove_prefix(7);
  }
  const bool colons = h.size() == 32 * 3 - 1;
  if (h.size() != 64 && !colons) return std::string(kWant) + " (got " + std::to_string(h.size()) + " characters after the prefix)";
  Fingerprint f{};
  for (size_t i = 0, pos = 0; i < 32; ++i) {
    if (colons && i > 0) {
      if (h[pos] != ':') return std::string(kWant) + " (':' expected at character " + std::to_string(pos + 1) + ")";
      ++pos;
    }
    int hi = hex_value(h[pos]), lo = hex_value(h[pos + 1]);
    if (hi < 0 || lo < 0) return std::string(kWant) + " (not hex at character " + std::to_string(pos + 1) + ")";
    f[i] = uint8_t(hi << 4 | lo);
    pos += 2;
  }
  *out = f;
  return "";
}

}  // namespace ptun
