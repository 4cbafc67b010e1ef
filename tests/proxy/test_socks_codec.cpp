#include <catch2/catch.hpp>

#include "proxy/dns_codec.hpp"
#include "proxy/reach.hpp"
#include "proxy/socks_codec.hpp"

using namespace ptun;
using namespace ptun::proxy;
using B = std::vector<uint8_t>;

TEST_CASE("socks greeting: incremental, methods, bad version", "[proxy][socks]") {
  size_t used = 0;
  Greeting g;
  CHECK(parse_greeting(B{}, &used, &g) == Parse::need_more);
  CHECK(parse_greeting(B{5}, &used, &g) == Parse::need_more);
  CHECK(parse_greeting(B{5, 2, 0}, &used, &g) == Parse::need_more);
  REQUIRE(parse_greeting(B{5, 2, 0, 2, 9}, &used, &g) == Parse::ok);
  CHECK(used == 4);
  CHECK(g.no_auth);
  CHECK(g.user_pass);
  CHECK(parse_greeting(B{4, 1, 0}, &used, &g) == Parse::error);
  CHECK(parse_greeting(B{'G', 'E'}, &used, &g) == Parse::error);
  CHECK(parse_greeting(B{5, 0}, &used, &g) == Parse::error);
}

TEST_CASE("socks user/pass", "[proxy][socks]") {
  size_t used = 0;
  Credentials c;
  B msg{1, 2, 'u', 'v', 3, 'p', 'w', 'd'};
  for (size_t n = 0; n < msg.size(); ++n) CHECK(parse_userpass(std::span(msg).first(n), &used, &c) == Parse::need_more);
  REQUIRE(parse_userpass(msg, &used, &c) == Parse::ok);
  CHECK(c.user == "uv");
  CHECK(c.pass == "pwd");
  CHECK(parse_userpass(B{1, 0, 1, 'x'}, &used, &c) == Parse::error);
  CHECK(parse_userpass(B{2, 1, 'a', 1, 'b'}, &used, &c) == Parse::error);
}

TEST_CASE("socks request: address types, names, reply codes", "[proxy][socks]") {
  size_t used = 0;
  Request r;
  uint8_t code = 0;
  REQUIRE(parse_request(B{5, 1, 0, 1, 10, 99, 0, 1, 0, 80}, &used, &r, &code) == Parse::ok);
  CHECK(r.cmd == kCmdConnect);
  CHECK(r.target.addr == IpAddr::parse("10.99.0.1").value());
  CHECK(r.target.port == 80);
  CHECK(used == 10);
  REQUIRE(parse_request(B{5, 1, 0, 3, 3, 'a', '.', 'b', 1, 0}, &used, &r, &code) == Parse::ok);
  CHECK(r.target.name == "a.b");
  CHECK(r.target.port == 256);
  // A literal address sent as a name is an address.
  REQUIRE(parse_request(B{5, 1, 0, 3, 3, '1', '.', '2', 0, 1}, &used, &r, &code) == Parse::ok);
  REQUIRE(parse_request(B{5, 1, 0, 3, 7, '1', '.', '2', '.', '3', '.', '4', 0, 1}, &used, &r, &code) == Parse::ok);
  CHECK(!r.target.is_name());
  CHECK(parse_request(B{5, 1, 0, 3, 7, '1', '.'}, &used, &r, &code) == Parse::need_more);
  CHECK(parse_request(B{5, 1, 0, 9, 0, 0}, &used, &r, &code) == Parse::error);
  CHECK(code == rep::atyp_unsupported);
  CHECK(parse_request(B{5, 9, 0, 1, 1, 2, 3, 4, 0, 1}, &used, &r, &code) == Parse::error);
  CHECK(code == rep::cmd_unsupported);
  CHECK(parse_request(B{5, 1, 0, 3, 2, 'a', 0, 0, 1}, &used, &r, &code) == Parse::error);   // NUL in name
  CHECK(parse_request(B{5, 1, 0, 3, 0, 0, 1}, &used, &r, &code) == Parse::error);          // empty name
  CHECK(encode_reply(rep::not_allowed, {}) == B{5, 2, 0, 1, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("socks udp header round trip", "[proxy][socks]") {
  Endpoint from{IpAddr::parse("fd99::1").value(), 53};
  B h = encode_udp_header(from);
  h.push_back(0xaa);
  size_t hl = 0;
  Target t;
  REQUIRE(parse_udp_header(h, &hl, &t) == Parse::ok);
  CHECK(hl == h.size() - 1);
  CHECK(t.addr == from.addr);
  CHECK(t.port == 53);
  CHECK(parse_udp_header(B{0, 0, 1, 1, 1, 2, 3, 4, 0, 1}, &hl, &t) == Parse::error);   // fragment
  CHECK(parse_udp_header(B{0, 0, 0}, &hl, &t) == Parse::error);
}

TEST_CASE("http connect parsing", "[proxy][http]") {
  auto parse = [](std::string s, Target* t, size_t* used) {
    return parse_http_connect({reinterpret_cast<const uint8_t*>(s.data()), s.size()}, used, t);
  };
  size_t used = 0;
  Target t;
  REQUIRE(parse("CONNECT web.test:443 HTTP/1.1\r\nHost: x\r\n\r\nextra", &t, &used) == Parse::ok);
  CHECK(t.name == "web.test");
  CHECK(t.port == 443);
  CHECK(used == 42);
  REQUIRE(parse("CONNECT [fd99::1]:80 HTTP/1.0\r\n\r\n", &t, &used) == Parse::ok);
  CHECK(t.addr == IpAddr::parse("fd99::1").value());
  CHECK(parse("CONN", &t, &used) == Parse::need_more);
  CHECK(parse("CONNECT a:1 HTTP/1.1\r\n", &t, &used) == Parse::need_more);
  CHECK(parse("GET / HTTP/1.1\r\n\r\n", &t, &used) == Parse::error);
  CHECK(parse("CONNECT a HTTP/1.1\r\n\r\n", &t, &used) == Parse::error);
  CHECK(parse("CONNECT a:0 HTTP/1.1\r\n\r\n", &t, &used) == Parse::error);
  CHECK(parse("CONNECT a:70000 HTTP/1.1\r\n\r\n", &t, &used) == Parse::error);
  CHECK(parse("CONNECT a b:1 HTTP/1.1\r\n\r\n", &t, &used) == Parse::error);
  CHECK(parse("CONNECT a:1 HTTP/1.1\r\n" + std::string(9000, 'x'), &t, &used) == Parse::error);
}

TEST_CASE("reach: most specific prefix wins", "[proxy][reach]") {
  auto c = [](const char* s) { return Cidr::parse(s).value(); };
  auto a = [](const char* s) { return IpAddr::parse(s).value(); };
  Reach r({c("10.0.0.0/8"), c("10.1.2.0/24")}, {c("10.1.0.0/16")});
  CHECK(r.allows(a("10.9.9.9")));
  CHECK_FALSE(r.allows(a("10.1.9.9")));
  CHECK(r.allows(a("10.1.2.3")));
  CHECK_FALSE(r.allows(a("192.168.1.1")));
  CHECK_FALSE(r.allows(a("fd99::1")));
  CHECK_FALSE(Reach().allows(a("10.0.0.1")));
}

TEST_CASE("dns codec: query bytes and answer parsing", "[proxy][dns]") {
  auto q = encode_dns_query(0x1234, "web.test", kDnsTypeA);
  REQUIRE(q);
  B want{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'e', 'b', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
  CHECK(*q == want);
  CHECK(!encode_dns_query(1, "a..b", kDnsTypeA));
  CHECK(!encode_dns_query(1, std::string(64, 'a'), kDnsTypeA));
  // Response: the question, then a CNAME (skipped) and an A record with a compressed name.
  B resp = *q;
  resp[2] = 0x81;
  resp[3] = 0x80;
  resp[7] = 2;
  B cname{0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12};
  B arec{0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 99, 0, 1};
  resp.insert(resp.end(), cname.begin(), cname.end());
  resp.insert(resp.end(), arec.begin(), arec.end());
  auto r = decode_dns_response(resp, 0x1234, kDnsTypeA);
  REQUIRE(r);
  CHECK(r->at(0) == IpAddr::parse("10.99.0.1").value());
  CHECK(!decode_dns_response(resp, 0x9999, kDnsTypeA));
  for (size_t n = 0; n < resp.size(); ++n) CHECK(!decode_dns_response(std::span(resp).first(n), 0x1234, kDnsTypeA));
  resp[3] = 0x83;
  CHECK(decode_dns_response(resp, 0x1234, kDnsTypeA).error().code == Errc::not_found);
}

TEST_CASE("HTTP CONNECT: Proxy-Authorization and Basic credentials", "[proxy][http]") {
  CHECK(http_basic_credentials("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");   // RFC 7617
  CHECK(http_basic_credentials("a", "") == "Basic YTo=");
  CHECK(http_basic_credentials("ab", "c") == "Basic YWI6Yw==");
  std::string req = "CONNECT web.test:443 HTTP/1.1\r\nHost: web.test:443\r\n"
                    "proxy-AUTHORIZATION:   Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==  \r\nUser-Agent: x\r\n\r\n";
  std::span<const uint8_t> in(reinterpret_cast<const uint8_t*>(req.data()), req.size());
  size_t used = 0;
  Target t;
  std::string auth = "stale";
  REQUIRE(parse_http_connect(in, &used, &t, &auth) == Parse::ok);
  CHECK(auth == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  CHECK(used == req.size());
  std::string bare = "CONNECT 10.0.0.1:80 HTTP/1.0\r\nX-Proxy-Authorization: no\r\n\r\n";
  REQUIRE(parse_http_connect({reinterpret_cast<const uint8_t*>(bare.data()), bare.size()}, &used, &t, &auth) == Parse::ok);
  CHECK(auth.empty());
}
