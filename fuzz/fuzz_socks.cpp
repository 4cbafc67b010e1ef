// The proxy's request parsers from arbitrary bytes: SOCKS5 greeting, user/pass, request, UDP
// header, HTTP CONNECT and DNS responses must return a value for every input, never crash or
// read out of bounds; an ok parse never claims more bytes than it was given.
#include <cstddef>
#include <cstdint>
#include <span>

#include "proxy/dns_codec.hpp"
#include "proxy/socks_codec.hpp"

using namespace ptun::proxy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  size_t used = 0;
  Greeting g;
  if (parse_greeting(in, &used, &g) == Parse::ok && used > size) __builtin_trap();
  Credentials c;
  if (parse_userpass(in, &used, &c) == Parse::ok && used > size) __builtin_trap();
  Request r;
  uint8_t code = 0;
  if (parse_request(in, &used, &r, &code) == Parse::ok && used > size) __builtin_trap();
  Target t;
  if (parse_udp_header(in, &used, &t) == Parse::ok && used > size) __builtin_trap();
  if (parse_http_connect(in, &used, &t) == Parse::ok && used > size) __builtin_trap();
  if (size >= 2) (void)decode_dns_response(in, uint16_t(data[0] << 8 | data[1]), kDnsTypeA);
  return 0;
}
