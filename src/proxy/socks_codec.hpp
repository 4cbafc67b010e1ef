// SOCKS5 (RFC 1928, RFC 1929 username/password) and HTTP CONNECT request parsing, and the
// replies. Pure code: byte spans in, values out, no allocation beyond the parsed strings.
// Parsers are incremental: need_more means "read more bytes and call again with the whole
// buffer"; ok sets *consumed to the bytes that belonged to the message.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/net_addr.hpp"

namespace ptun::proxy {

enum class Parse : uint8_t { need_more, ok, error };

// RFC 1928 reply codes.
namespace rep {
inline constexpr uint8_t succeeded = 0, general_failure = 1, not_allowed = 2, net_unreachable = 3,
                         host_unreachable = 4, refused = 5, ttl_expired = 6,
                         cmd_unsupported = 7, atyp_unsupported = 8;
}
inline constexpr uint8_t kMethodNoAuth = 0x00, kMethodUserPass = 0x02, kMethodNone = 0xff;
inline constexpr uint8_t kCmdConnect = 1, kCmdBind = 2, kCmdUdpAssociate = 3;

// A destination as the client named it: an address, or a domain name still to be resolved.
struct Target {
  IpAddr addr;        // empty when `name` is set
  std::string name;   // 1..255 bytes, no NUL
  uint16_t port = 0;
  bool is_name() const { return !name.empty(); }
  std::string str() const;
};

// Client greeting: VER=5, NMETHODS, METHODS. Error on another version or zero methods.
struct Greeting {
  bool no_auth = false, user_pass = false;
};
Parse parse_greeting(std::span<const uint8_t> in, size_t* consumed, Greeting* out);

// RFC 1929: VER=1, ULEN, UNAME, PLEN, PASSWD (lengths 1..255).
struct Credentials {
  std::string user, pass;
};
Parse parse_userpass(std::span<const uint8_t> in, size_t* consumed, Credentials* out);

// Request: VER=5, CMD, RSV, ATYP, DST.ADDR, DST.PORT. On error *reply_code says what to answer
// (general_failure for a bad version, atyp_unsupported for an unknown address type or an empty /
// NUL-containing name, cmd_unsupported for an unknown command).
struct Request {
  uint8_t cmd = 0;
  Target target;
};
Parse parse_request(std::span<const uint8_t> in, size_t* consumed, Request* out, uint8_t* reply_code);

// VER=5 REP RSV=0 ATYP BND.ADDR BND.PORT (an empty address encodes as 0.0.0.0:0).
std::vector<uint8_t> encode_reply(uint8_t code, const Endpoint& bound);

// UDP ASSOCIATE datagram header: RSV(2)=0, FRAG=0, ATYP, DST.ADDR, DST.PORT. Fragments
// (FRAG != 0) are errors (RFC 1928 allows dropping them). *header_len = bytes before the payload.
Parse parse_udp_header(std::span<const uint8_t> in, size_t* header_len, Target* out);
std::vector<uint8_t> encode_udp_header(const Endpoint& from);

// HTTP CONNECT: "CONNECT host:port HTTP/1.x\r\n" headers "\r\n". Headers are skipped. Error on
// another method, a missing port, a header block larger than kMaxHttpHeader, or bad syntax.
inline constexpr size_t kMaxHttpHeader = 8192;
// proxy_auth (optional) receives the value of a Proxy-Authorization header, trimmed, or "".
Parse parse_http_connect(std::span<const uint8_t> in, size_t* consumed, Target* out,
                         std::string* proxy_auth = nullptr);
// The Proxy-Authorization value HTTP Basic credentials give (RFC 7617): "Basic " base64(u ":" p).
std::string http_basic_credentials(std::string_view user, std::string_view pass);

}  // namespace ptun::proxy
