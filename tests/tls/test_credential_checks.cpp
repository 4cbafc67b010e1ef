// The daemons' credential preflight (also `check-config --strict`): key file mode, key/certificate
// pair, chain to the CA and expiry warnings.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tls/credential_checks.hpp"
#include "tls_fixture.hpp"

using namespace ptun;
using namespace ptun::tls;
using namespace ptun::tls::testing;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/ptun-tls-check-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    auto p = path / name;
    std::ofstream(p) << text;
    ::chmod(p.c_str(), mode);
    return p.string();
  }
};

bool contains(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& s : v)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("key file mode: 0600 passes, world or foreign-group access refused", "[tls][checks]") {
  TempDir d;
  auto& pki = TestPki::get();
  CHECK(check_key_file_mode(d.write("a.key", pki.server.key_pem, 0600)));
  auto world = check_key_file_mode(d.write("b.key", pki.server.key_pem, 0644));
  REQUIRE(!world);
  CHECK(world.error().code == Errc::auth);
  CHECK(world.error().message.find("world-accessible") != std::string::npos);
  auto missing = check_key_file_mode((d.path / "none.key").string());
  REQUIRE(!missing);
  CHECK(missing.error().message.find("cannot stat key") != std::string::npos);
  // Group access is only accepted for root's group: a file we create belongs to our group.
  if (::getegid() != 0) {
    auto group = check_key_file_mode(d.write("c.key", pki.server.key_pem, 0640));
    REQUIRE(!group);
    CHECK(group.error().message.find("accessible by group") != std::string::npos);
  }
}

TEST_CASE("load_checked_credentials: good files pass without warnings", "[tls][checks]") {
  TempDir d;
  auto& pki = TestPki::get();
  auto r = load_checked_credentials(d.write("ca.crt", pki.ca.ca_pem()), d.write("s.crt", pki.server.cert_pem),
                                    d.write("s.key", pki.server.key_pem));
  REQUIRE(r);
  CHECK(r->creds);
  CHECK(r->warnings.empty());
}

TEST_CASE("load_checked_credentials: mismatched key, world-readable key, unreadable CA", "[tls][checks]") {
  TempDir d;
  auto& pki = TestPki::get();
  auto ca = d.write("ca.crt", pki.ca.ca_pem()), cert = d.write("s.crt", pki.server.cert_pem);
  auto other = load_checked_credentials(ca, cert, d.write("c.key", pki.client.key_pem));
  REQUIRE(!other);
  CHECK(other.error().message == "key does not match the certificate");
  auto world = load_checked_credentials(ca, cert, d.write("w.key", pki.server.key_pem, 0644));
  REQUIRE(!world);
  CHECK(world.error().message.find("world-accessible") != std::string::npos);
  auto bad_ca = load_checked_credentials(d.write("bad.crt", "not a certificate"), cert, d.write("s.key", pki.server.key_pem));
  REQUIRE(!bad_ca);
  CHECK(bad_ca.error().message.find("CA file") != std::string::npos);
}

TEST_CASE("credential_warnings: foreign CA, expired, expiring soon, not yet valid", "[tls][checks]") {
  auto& pki = TestPki::get();
  const int64_t now = 1893456000;  // 2030-01-01
  CHECK(credential_warnings(*pki.creds(pki.server), now).empty());
  auto rogue = credential_warnings(*pki.creds(pki.rogue_server), now);
  CHECK(contains(rogue, "does not chain to the configured CA"));
  CHECK(contains(rogue, "not trusted by the CA"));
  auto expired = credential_warnings(*pki.creds(pki.expired_server), now);
  REQUIRE(expired.size() == 1);  // expiry alone: it still chains
  CHECK(expired[0] == "the certificate expired on 2011-01-01");
  auto future = credential_warnings(*pki.creds(pki.future_client), now);
  CHECK(contains(future, "the certificate is not valid before 2045-01-01"));
  // 2049-12-31 23:59:59 is 9 days and some hours after 2049-12-22: inside the 30-day window, not a 5-day one.
  const int64_t late = 2523744000;  // 2049-12-22 00:00
  auto soon = credential_warnings(*pki.creds(pki.server), late);
  CHECK(contains(soon, "the certificate expires on 2049-12-31 (in 9 days)"));
  CHECK(contains(soon, "the CA expires on"));
  CHECK(credential_warnings(*pki.creds(pki.server), late, 5).empty());
}
