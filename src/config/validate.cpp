#include "config/validate.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

#include "config/config.hpp"

namespace ptun::config {

namespace {
bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// For messages: the value, quoted, cut short if long and with non-printables escaped, so that an
// error line stays one line.
std::string shown(std::string_view s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 80; ++i) {
    unsigned char c = s[i];
    if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += char(c);
    }
  }
  if (s.size() > 80) out += "...";
  return out + "'";
}

std::string parse_port(std::string_view p, uint16_t* out) {
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (p.empty() || ec != std::errc() || ptr != p.data() + p.size())
    return "bad port " + shown(p);
  if (v < 1 || v > 65535) return "port " + std::to_string(v) + " is out of range 1..65535";
  *out = uint16_t(v);
  return "";
}
}  // namespace

std::string check_domain(std::string_view s) {
  if (s.empty()) return "empty domain name";
  if (s.size() > 253) return "domain name longer than 253 characters";
  if (s.back() == '.') return shown(s) + " is not a valid domain name (no trailing dot)";
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (label.empty() || label.size() > 63)
      return shown(s) + " is not a valid domain name (labels are 1..63 characters)";
    for (char c : label)
      if (!is_alnum(c) && c != '-')
        return shown(s) + " is not a valid domain name (letters, digits, '-' and '.' only)";
    if (label.front() == '-' || label.back() == '-')
      return shown(s) + " is not a valid domain name (a label starts or ends with '-')";
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return "";
}

std::string check_host(std::string_view s) {
  if (IpAddr::parse(s)) return "";
  return check_domain(s);
}

std::string check_interface_name(std::string_view s) {
  if (s.empty() || s.size() > 15) return "interface names are 1..15 characters";
  if (s == "." || s == "..") return shown(s) + " is not a valid interface name";
  for (char c : s)
    if (c <= ' ' || c >= 0x7f || c == '/' || c == ':')
      return shown(s) + " is not a valid interface name (no '/', ':', whitespace or non-ASCII)";
  return "";
}

std::string check_log_level(std::string_view s) {
  if (s == "error" || s == "warn" || s == "info" || s == "debug") return "";
  return shown(s) + " is not a log level (error|warn|info|debug)";
}

std::string check_group_name(std::string_view s) {
  if (s.empty() || s.size() > 32 || s.front() == '-')
    return shown(s) + " is not a valid group name";
  for (char c : s)
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-')
      return shown(s) + " is not a valid group name";
  return "";
}

std::string check_capability(std::string_view s) {
  for (const char* ok : {"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"})
    if (s == ok) return "";
  return shown(s) + " is not a capability ptun can keep (CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BIND_SERVICE)";
}

std::string check_peer_name(std::string_view s) {
  if (s.empty() || s.size() > bounds::kMaxPeerName)
    return "peer names are 1.." + std::to_string(bounds::kMaxPeerName) + " characters";
  for (char c : s)
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-' && c != '@')
      return shown(s) + " is not a valid peer name (letters, digits, '.', '_', '-', '@')";
  return "";
}

std::string resolve_path(std::string_view base_dir, std::string_view s, std::string* out) {
  if (s.empty()) return "empty path";
  if (s.find('\0') != std::string_view::npos) return "path contains a NUL byte";
  if (s.size() > bounds::kMaxPath) return "path is too long";
  std::filesystem::path p{std::string(s)};
  if (p.is_relative() && !base_dir.empty())
    p = (std::filesystem::path(std::string(base_dir)) / p).lexically_normal();
  std::string r = p.string();
  if (r.size() > bounds::kMaxPath) return "path is too long";
  *out = std::move(r);
  return "";
}

std::string check_readable_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return shown(path) + ": " + std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return shown(path) + " is not a regular file";
  if (::access(path.c_str(), R_OK) != 0) return shown(path) + ": " + std::strerror(errno);
  return "";
}

std::string parse_listen(std::string_view s, Endpoint* out) {
  auto ep = Endpoint::parse(s);
  if (!ep) return ep.error().message;
  if (ep->port == 0) return "port 0 is out of range 1..65535";
  *out = *ep;
  return "";
}

std::string parse_loopback_listen(std::string_view s, Endpoint* out) {
  Endpoint ep;
  if (auto why = parse_listen(s, &ep); !why.empty()) return why;
  static const uint8_t kV6Loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  bool loopback = ep.addr.is_v4() ? ep.addr.bytes[0] == 127
                                  : std::memcmp(ep.addr.bytes.data(), kV6Loopback, 16) == 0;
  if (!loopback) return shown(s) + " is not a loopback address (127.0.0.0/8 or [::1])";
  *out = ep;
  return "";
}

std::string ServerAddress::str() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string parse_server_address(std::string_view s, std::string* host, uint16_t* port) {
  std::string_view h = s, p;
  bool has_port = false;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == s.npos) return shown(s) + ": missing ']'";
    h = s.substr(1, close - 1);
    if (close + 1 < s.size()) {
      if (s[close + 1] != ':') return shown(s) + ": expected ':' after ']'";
      p = s.substr(close + 2);
      has_port = true;
    }
    auto a = IpAddr::parse(h);
    if (!a || !a->is_v6()) return shown(s) + ": brackets are for IPv6 addresses only";
  } else {
    size_t colon = s.rfind(':');
    if (colon != s.npos) {
      h = s.substr(0, colon);
      p = s.substr(colon + 1);
      has_port = true;
      if (h.find(':') != h.npos) return shown(s) + ": IPv6 addresses need [brackets]";
    }
    if (auto why = check_host(h); !why.empty()) return why;
  }
  uint16_t v = *port;
  if (has_port)
    if (auto why = parse_port(p, &v); !why.empty()) return why;
  *host = std::string(h);
  *port = v;
  return "";
}

bool overlaps(const Cidr& a, const Cidr& b) {
  if (a.addr.family != b.addr.family) return false;
  return a.contains(b.addr) || b.contains(a.addr);
}

std::string add_cidr(std::vector<Cidr>& list, const std::string& s) {
  auto c = Cidr::parse(s);
  if (!c) return c.error().message;
  return append_unique(list, *c, c->str());
}

std::string add_ip(std::vector<IpAddr>& list, const std::string& s) {
  auto a = IpAddr::parse(s);
  if (!a) return a.error().message;
  return append_unique(list, *a, a->str());
}

std::string add_domain(std::vector<std::string>& list, const std::string& s) {
  if (auto why = check_domain(s); !why.empty()) return why;
  return append_unique(list, s, s);
}

std::string add_match_domain(std::vector<std::string>& list, const std::string& s) {
  if (!s.empty())
    if (auto why = check_domain(s); !why.empty()) return why;
  return append_unique(list, s, s);
}

std::string add_interface(std::vector<std::string>& list, const std::string& s) {
  if (auto why = check_interface_name(s); !why.empty()) return why;
  return append_unique(list, s, s);
}

std::string base_dir_of(const std::string& config_path) {
  size_t slash = config_path.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : config_path.substr(0, slash);
}

}  // namespace ptun::config
