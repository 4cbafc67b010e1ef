#include "config/pem_text.hpp"

#include <vector>

namespace ptun::config {

namespace {

bool is_b64(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// "-----BEGIN X-----" -> X (or nullopt-like "" with ok=false).
bool marker(std::string_view line, std::string_view kind, std::string_view* label) {
  const std::string_view head = kind == "BEGIN" ? "-----BEGIN " : "-----END ";
  if (line.size() < head.size() + 5 || line.substr(0, head.size()) != head ||
      line.substr(line.size() - 5) != "-----")
    return false;
  *label = line.substr(head.size(), line.size() - head.size() - 5);
  return true;
}

std::string at_line(size_t n) { return "line " + std::to_string(n) + " of the value: "; }

}  // namespace

std::string check_pem(std::string_view text, std::initializer_list<std::string_view> labels) {
  std::vector<std::string_view> lines;
  for (size_t start = 0; start <= text.size();) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    lines.push_back(trim(text.substr(start, nl - start)));
    start = nl + 1;
  }
  std::string allowed;
  for (auto l : labels) allowed += (allowed.empty() ? "" : " or ") + std::string(l);
  size_t blocks = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    std::string_view label;
    if (!marker(lines[i], "BEGIN", &label))
      return at_line(i + 1) + "expected '-----BEGIN " + allowed + "-----' (is this PEM?)";
    bool known = false;
    for (auto l : labels) known = known || l == label;
    if (!known) return at_line(i + 1) + "a " + std::string(label) + " block where " + allowed + " is expected";
    ++blocks;
    const size_t begin = i;
    size_t chars = 0, pad = 0;
    for (++i;; ++i) {
      if (i == lines.size())
        return at_line(begin + 1) + "the " + std::string(label) + " block has no '-----END " + std::string(label) +
               "-----' line (truncated?)";
      std::string_view l = lines[i];
      std::string_view end;
      if (marker(l, "END", &end)) {
        if (end != label)
          return at_line(i + 1) + "'-----END " + std::string(end) + "-----' closes a " + std::string(label) + " block";
        break;
      }
      if (l.find(':') != std::string_view::npos)
        return at_line(i + 1) + "encrypted or annotated PEM (headers) is not supported";
      for (char c : l) {
        if (c == '=') {
          ++pad;
        } else if (!is_b64(c) || pad != 0) {
          return at_line(i + 1) + (is_b64(c) ? "base64 continues after '=' padding"
                                             : "a character that is not base64 in the " + std::string(label) + " block");
        }
      }
      chars += l.size();
    }
    if (chars == 0) return at_line(begin + 1) + "the " + std::string(label) + " block is empty";
    if (chars % 4 != 0 || pad > 2)
      return at_line(begin + 1) + "the base64 of the " + std::string(label) +
             " block has a wrong length (a line lost or cut?)";
  }
  if (blocks == 0) return "empty: no PEM block";
  return "";
}

}  // namespace ptun::config
