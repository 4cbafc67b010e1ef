// Certificate fingerprints: the printed form, every accepted input form, malformed values.
#include <catch2/catch.hpp>

#include "common/fingerprint.hpp"

using namespace ptun;

TEST_CASE("fingerprint text forms", "[common][fingerprint]") {
  Fingerprint f{};
  for (size_t i = 0; i < f.size(); ++i) f[i] = uint8_t(i * 8 + 0x0a);
  const std::string canon = fingerprint_str(f);
  CHECK(canon == "sha256:0a121a222a323a424a525a626a727a828a929aa2aab2bac2cad2dae2eaf2fa02");
  std::string colons;
  for (size_t i = 0; i < 64; i += 2) colons += (i ? ":" : "") + canon.substr(7 + i, 2);
  std::string upper = colons;
  for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& in : {canon, canon.substr(7), "SHA256:" + canon.substr(7), "sha256:" + colons, upper,
                                "Sha256:" + upper}) {
    Fingerprint g{};
    INFO(in);
    CHECK(parse_fingerprint(in, &g) == "");
    CHECK(g == f);
  }
  Fingerprint g{};
  for (const std::string& bad : {std::string(""), std::string("sha256:"), canon.substr(0, canon.size() - 1), canon + "0",
                                 "sha1:" + canon.substr(7), canon.substr(0, 20) + "g" + canon.substr(21),
                                 "sha256:" + colons.substr(0, 2) + ";" + colons.substr(3),
                                 "md5:" + canon.substr(7, 60)}) {
    INFO(bad);
    CHECK(parse_fingerprint(bad, &g).find("a SHA-256 fingerprint is") == 0);
  }
  CHECK(parse_fingerprint(canon.substr(0, 20) + "g" + canon.substr(21), &g).find("not hex at character 13") !=
        std::string::npos);
}
