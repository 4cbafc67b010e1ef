#include <catch2/catch.hpp>

#include "config/config.hpp"

using namespace ptun;

namespace {
const char* kBase = "server = \"vpn.example.com:4433\"\nserver_name = \"vpn\"\nca = \"ca.crt\"\ncert = \"c.crt\"\nkey = \"c.key\"\n";
Result<config::ClientConfig> parse(const std::string& extra) {
  return config::parse_client(std::string(kBase) + extra, "c.toml");
}
}  // namespace

TEST_CASE("userspace config: proxy and forwards parse and round-trip", "[config][userspace]") {
  auto c = parse("mode = \"userspace\"\n[proxy]\nsocks5 = [\"127.0.0.1:1080\"]\nhttp = [\"[::1]:3128\"]\n"
                 "username = \"u\"\npassword = \"p\"\n[[forward]]\nlisten = \"127.0.0.1:8080\"\nto = \"10.99.0.1:80\"\n"
                 "[[forward]]\nlisten = \"127.0.0.1:8080\"\nto = \"10.99.0.1:53\"\nproto = \"udp\"\n");
  REQUIRE(c);
  CHECK(c->proxy.socks5.size() == 1);
  CHECK(c->proxy.http.at(0).port == 3128);
  REQUIRE(c->forwards.size() == 2);
  CHECK(c->forwards[1].proto == "udp");
  auto again = config::parse_client(config::to_toml(*c), "c.toml");
  REQUIRE(again);
  CHECK(again->proxy.password == "<not shown>");   // the secret never appears in the effective config
  again->proxy.password = c->proxy.password;
  CHECK(*again == *c);
}

TEST_CASE("userspace config: validation errors", "[config][userspace]") {
  CHECK(!parse("mode = \"userspace\"\n[proxy]\nsocks5 = [\"0.0.0.0:1080\"]\n"));            // not loopback
  CHECK(!parse("mode = \"userspace\"\n[proxy]\nusername = \"u\"\n"));                       // no password
  CHECK(!parse("[proxy]\nsocks5 = [\"127.0.0.1:1080\"]\n"));                                // mode tun
  CHECK(!parse("mode = \"userspace\"\n[[forward]]\nlisten = \"127.0.0.1:1\"\nto = \"x\"\n"));  // bad to
  CHECK(!parse("mode = \"userspace\"\n[[forward]]\nlisten = \"127.0.0.1:1\"\nto = \"10.0.0.1:1\"\nproto = \"sctp\"\n"));
  CHECK(!parse("mode = \"userspace\"\n[[forward]]\nlisten = \"127.0.0.1:1\"\nto = \"10.0.0.1:1\"\n"
               "[[forward]]\nlisten = \"127.0.0.1:1\"\nto = \"10.0.0.2:1\"\n"));              // duplicate
  CHECK(!parse("mode = \"userspace\"\n[proxy]\nmax_connections = 0\n"));
  CHECK(!parse("mode = \"userspace\"\n[proxy]\nsocks5 = [\"127.0.0.1:1080\"]\nbogus = 1\n"));  // unknown key
}
