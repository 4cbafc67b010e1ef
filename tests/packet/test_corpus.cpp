// Writes the fuzz seed corpus (hidden: `PTUN_PACKET_CORPUS=fuzz/corpus/packet test_packet
// [.corpus]`): the valid samples plus malformed variants, one file each.
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "packet/parse.hpp"
#include "samples.hpp"

using namespace ptun::packet;
using namespace ptun::packet::test;

TEST_CASE("corpus: write the fuzz_packet seeds", "[.corpus][packet]") {
  const char* dir = std::getenv("PTUN_PACKET_CORPUS");
  REQUIRE(dir != nullptr);
  std::vector<std::pair<std::string, Bytes>> seeds;
  for (const auto& s : valid_samples()) seeds.emplace_back(s.name, s.bytes);

  Bytes b = ipv4({}, tcp(1, 2, 0x02, mss_option(1460)));
  b.resize(30);
  seeds.emplace_back("bad v4 truncated", b);
  b = ipv4({}, udp(1, 2, 8));
  b[0] = 0x43;
  seeds.emplace_back("bad v4 ihl", b);
  b = ipv6({}, udp(1, 2, 8));
  b[5] += 9;
  seeds.emplace_back("bad v6 plen", b);
  V6 o;
  o.exts = {ext_opts(0), ext_opts(60)};
  b = ipv6(o, raw(59, {}));
  b[49] = 200;
  seeds.emplace_back("bad v6 ext runs off", b);
  o.exts.assign(9, ext_opts(60));
  seeds.emplace_back("bad v6 too many ext", ipv6(o, udp(1, 2)));
  b = ipv4({}, tcp(1, 2, 0x02, {8, 0, 2, 4, 5, 0xb4, 0, 0}));
  seeds.emplace_back("bad tcp option length", b);
  b = ipv6({}, tcp(1, 2, 0x12, {1, 2, 4, 0x23, 0x28}));
  seeds.emplace_back("v6 syn-ack odd mss", b);

  for (const auto& [name, bytes] : seeds) {
    std::string file = std::string(dir) + "/";
    for (char c : name) file += (c == ' ' || c == '+') ? '_' : c;
    std::FILE* f = std::fopen(file.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size());
    std::fclose(f);
  }
  std::printf("wrote %zu seeds to %s\n", seeds.size(), dir);
}
