#include "proxy/socks_codec.hpp"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cstring>
#include <string_view>

namespace ptun::proxy {

std::string Target::str() const {
  if (is_name()) return name + ":" + std::to_string(port);
  return Endpoint{addr, port}.str();
}

Parse parse_greeting(std::span<const uint8_t> in, size_t* consumed, Greeting* out) {
  if (in.size() < 2) return in.empty() || in[0] == 5 ? Parse::need_more : Parse::error;
  if (in[0] != 5 || in[1] == 0) return Parse::error;
  size_t n = 2 + size_t(in[1]);
  if (in.size() < n) return Parse::need_more;
  *out = {};
  for (size_t i = 2; i < n; ++i) {
    if (in[i] == kMethodNoAuth) out->no_auth = true;
    if (in[i] == kMethodUserPass) out->user_pass = true;
  }
  *consumed = n;
  return Parse::ok;
}

Parse parse_userpass(std::span<const uint8_t> in, size_t* consumed, Credentials* out) {
  if (in.empty()) return Parse::need_more;
  if (in[0] != 1) return Parse::error;
  if (in.size() < 2) return Parse::need_more;
  size_t ulen = in[1];
  if (ulen == 0) return Parse::error;
  if (in.size() < 3 + ulen) return Parse::need_more;
  size_t plen = in[2 + ulen];
  if (plen == 0) return Parse::error;
  size_t n = 3 + ulen + plen;
  if (in.size() < n) return Parse::need_more;
  out->user.assign(reinterpret_cast<const char*>(in.data() + 2), ulen);
  out->pass.assign(reinterpret_cast<const char*>(in.data() + 3 + ulen), plen);
  *consumed = n;
  return Parse::ok;
}

namespace {

// ATYP + address + port starting at in[0]; shared by requests and UDP headers.
Parse parse_address(std::span<const uint8_t> in, size_t* len, Target* out, uint8_t* reply_code) {
  if (in.empty()) return Parse::need_more;
  size_t alen;
  switch (in[0]) {
    case 1: alen = 4; break;
    case 4: alen = 16; break;
    case 3:
      if (in.size() < 2) return Parse::need_more;
      alen = 1 + size_t(in[1]);
      break;
    default:
      *reply_code = rep::atyp_unsupported;
      return Parse::error;
  }
  size_t n = 1 + alen + 2;
  if (in.size() < n) return Parse::need_more;
  *out = {};
  if (in[0] == 1) {
    out->addr = IpAddr::v4(in.data() + 1);
  } else if (in[0] == 4) {
    out->addr = IpAddr::v6(in.data() + 1);
  } else {
    std::string_view name(reinterpret_cast<const char*>(in.data() + 2), alen - 1);
    if (name.empty() || name.find('\0') != std::string_view::npos) {
      *reply_code = rep::atyp_unsupported;
      return Parse::error;
    }
    // A literal address sent as a name is still an address (curl --socks5-hostname does this).
    if (auto a = IpAddr::parse(name)) out->addr = *a;
    else out->name.assign(name);
  }
  out->port = uint16_t(in[n - 2] << 8 | in[n - 1]);
  *len = n;
  return Parse::ok;
}

void append_address(std::vector<uint8_t>& v, const Endpoint& ep) {
  if (ep.addr.is_v6()) {
    v.push_back(4);
    v.insert(v.end(), ep.addr.bytes.begin(), ep.addr.bytes.begin() + 16);
  } else {
    v.push_back(1);
    if (ep.addr.is_v4()) v.insert(v.end(), ep.addr.bytes.begin(), ep.addr.bytes.begin() + 4);
    else v.insert(v.end(), 4, 0);
  }
  v.push_back(uint8_t(ep.port >> 8));
  v.push_back(uint8_t(ep.port));
}

}  // namespace

Parse parse_request(std::span<const uint8_t> in, size_t* consumed, Request* out, uint8_t* reply_code) {
  *reply_code = rep::general_failure;
  if (in.empty()) return Parse::need_more;
  if (in[0] != 5) return Parse::error;
  if (in.size() < 4) return Parse::need_more;
  if (in[2] != 0) return Parse::error;
  size_t alen = 0;
  Parse p = parse_address(in.subspan(3), &alen, &out->target, reply_code);
  if (p != Parse::ok) return p;
  out->cmd = in[1];
  if (out->cmd != kCmdConnect && out->cmd != kCmdBind && out->cmd != kCmdUdpAssociate) {
    *reply_code = rep::cmd_unsupported;
    return Parse::error;
  }
  *consumed = 3 + alen;
  return Parse::ok;
}

std::vector<uint8_t> encode_reply(uint8_t code, const Endpoint& bound) {
  std::vector<uint8_t> v{5, code, 0};
  append_address(v, bound);
  return v;
}

Parse parse_udp_header(std::span<const uint8_t> in, size_t* header_len, Target* out) {
  if (in.size() < 4) return Parse::error;   // a datagram is complete: no need_more
  if (in[0] != 0 || in[1] != 0 || in[2] != 0) return Parse::error;
  size_t alen = 0;
  uint8_t code = 0;
  if (parse_address(in.subspan(3), &alen, out, &code) != Parse::ok) return Parse::error;
  *header_len = 3 + alen;
  return Parse::ok;
}

std::vector<uint8_t> encode_udp_header(const Endpoint& from) {
  std::vector<uint8_t> v{0, 0, 0};
  append_address(v, from);
  return v;
}

std::string http_basic_credentials(std::string_view user, std::string_view pass) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string in = std::string(user) + ":" + std::string(pass), out = "Basic ";
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    if (i + 2 < in.size()) v |= uint8_t(in[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < in.size() ? kB64[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kB64[v & 63] : '=';
  }
  return out;
}

namespace {
// The value of header `name` (case-insensitive) in the header lines of `head`, trimmed.
std::string_view header_value(std::string_view head, std::string_view name) {
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    size_t start = pos + 2, end = head.find("\r\n", start);
    std::string_view line = head.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        std::equal(name.begin(), name.end(), line.begin(),
                   [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); })) {
      std::string_view v = line.substr(name.size() + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      return v;
    }
    pos = end;
  }
  return {};
}
}  // namespace

Parse parse_http_connect(std::span<const uint8_t> in, size_t* consumed, Target* out, std::string* proxy_auth) {
  std::string_view s(reinterpret_cast<const char*>(in.data()), std::min(in.size(), kMaxHttpHeader));
  constexpr std::string_view kMethod = "CONNECT ";
  if (s.size() < kMethod.size()) return s == kMethod.substr(0, s.size()) ? Parse::need_more : Parse::error;
  if (s.substr(0, kMethod.size()) != kMethod) return Parse::error;
  size_t end = s.find("\r\n\r\n");
  if (end == std::string_view::npos) return in.size() >= kMaxHttpHeader ? Parse::error : Parse::need_more;
  std::string_view line = s.substr(0, s.find("\r\n"));
  line.remove_prefix(kMethod.size());
  size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return Parse::error;
  std::string_view version = line.substr(sp + 1), authority = line.substr(0, sp);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return Parse::error;
  size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return Parse::error;
  std::string_view host = authority.substr(0, colon), port = authority.substr(colon + 1);
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p == 0 || p > 65535) return Parse::error;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return Parse::error;
    host = host.substr(1, host.size() - 2);
    auto a = IpAddr::parse(host);
    if (!a || !a->is_v6()) return Parse::error;
  }
  if (host.size() > 255) return Parse::error;
  for (char c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '_'))
      return Parse::error;
  *out = {};
  if (auto a = IpAddr::parse(host)) out->addr = *a;
  else out->name.assign(host);
  out->port = uint16_t(p);
  if (proxy_auth) proxy_auth->assign(header_value(s.substr(0, end + 2), "Proxy-Authorization"));
  *consumed = end + 4;
  return Parse::ok;
}

}  // namespace ptun::proxy
