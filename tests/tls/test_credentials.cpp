// Credentials: PEM/DER parsing from memory and from files, and the checks made at load time.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tls/mbedtls_util.hpp"
#include "tls_fixture.hpp"

using namespace ptun;
using namespace ptun::tls;
using namespace ptun::tls::testing;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/ptun-tls-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) {
    auto p = path / name;
    std::ofstream(p) << text;
    return p.string();
  }
};

}  // namespace

TEST_CASE("Credentials from PEM", "[tls][credentials]") {
  auto& pki = TestPki::get();
  auto c = Credentials::from_pem(pki.ca.ca_pem(), pki.server.cert_pem, pki.server.key_pem);
  REQUIRE(c);
  CHECK((*c)->own_common_name() == "vpn.example.org");
  CHECK((*c)->ca()->raw.p != nullptr);
  CHECK(mbedtls_pk_get_type((*c)->key()) == MBEDTLS_PK_ECKEY);

  SECTION("chain in the cert file and several CAs") {
    std::string two_cas = pki.ca.ca_pem() + pki.other_ca.ca_pem();
    auto d = Credentials::from_pem(two_cas, pki.client.cert_pem + pki.ca.ca_pem(), pki.client.key_pem);
    REQUIRE(d);
    CHECK((*d)->ca()->next != nullptr);
    CHECK((*d)->cert()->next != nullptr);
    CHECK((*d)->own_common_name() == "alice");
  }
  SECTION("errors name the part that failed") {
    auto bad_ca = Credentials::from_pem("not a certificate", pki.server.cert_pem, pki.server.key_pem);
    REQUIRE_FALSE(bad_ca);
    CHECK(bad_ca.error().code == Errc::invalid_argument);
    CHECK(bad_ca.error().message.rfind("CA: ", 0) == 0);
    auto bad_key = Credentials::from_pem(pki.ca.ca_pem(), pki.server.cert_pem, "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n");
    REQUIRE_FALSE(bad_key);
    CHECK(bad_key.error().message.rfind("key: ", 0) == 0);
    auto mismatch = Credentials::from_pem(pki.ca.ca_pem(), pki.server.cert_pem, pki.client.key_pem);
    REQUIRE_FALSE(mismatch);
    CHECK(mismatch.error().message == "key does not match the certificate");
    auto empty_cert = Credentials::from_pem(pki.ca.ca_pem(), "", pki.server.key_pem);
    REQUIRE_FALSE(empty_cert);
  }
}

TEST_CASE("Credentials from files", "[tls][credentials]") {
  auto& pki = TestPki::get();
  TempDir dir;
  std::string ca = dir.write("ca.pem", pki.ca.ca_pem());
  std::string cert = dir.write("client.pem", pki.client.cert_pem);
  std::string key = dir.write("client.key", pki.client.key_pem);
  auto c = Credentials::load(ca, cert, key);
  REQUIRE(c);
  CHECK((*c)->own_common_name() == "alice");

  auto missing = Credentials::load(ca, cert, (dir.path / "nope.key").string());
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::io);
  CHECK(missing.error().message.find("nope.key") != std::string::npos);
  auto missing_ca = Credentials::load((dir.path / "nope.pem").string(), cert, key);
  REQUIRE_FALSE(missing_ca);
  CHECK(missing_ca.error().code == Errc::io);
  auto swapped = Credentials::load(ca, key, cert);
  REQUIRE_FALSE(swapped);
  CHECK(swapped.error().message.find("certificate file") == 0);
}

TEST_CASE("verify failure texts", "[tls][credentials]") {
  // Single reasons are exercised end to end in test_dtls_session.cpp; here their composition.
  using ptun::tls::detail::verify_failure_text;
  CHECK(verify_failure_text(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_CN_MISMATCH, "a.b") ==
        "certificate verify failed: name mismatch (expected a.b); certificate expired");
  CHECK(verify_failure_text(MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_BAD_KEY, "") ==
        "certificate verify failed: not trusted by the CA; key too weak or curve not allowed");
  // Reasons without a ptun name fall back to mbedTLS's own text.
  CHECK(verify_failure_text(MBEDTLS_X509_BADCRL_EXPIRED, "") ==
        "certificate verify failed: The CRL is expired");
  CHECK(ptun::tls::detail::alert_name(48) == "unknown_ca");
  CHECK(ptun::tls::detail::alert_name(200) == "alert 200");
}

TEST_CASE("Credentials from a mix of files and inline PEM", "[tls][credentials][profile]") {
  auto& pki = TestPki::get();
  TempDir d;
  const std::string ca = d.write("ca.pem", pki.ca.ca_pem());
  auto c = Credentials::load(Credentials::Source{ca, "", ""},
                             Credentials::Source{"", pki.client.cert_pem, "p.toml: cert_pem"},
                             Credentials::Source{"", pki.client.key_pem, "p.toml: key_pem"});
  REQUIRE(c);
  CHECK((*c)->own_common_name() == "alice");
  // A key that is not the certificate's, inline: refused like a file's.
  auto wrong = Credentials::load(Credentials::Source{"", pki.ca.ca_pem(), "p.toml: ca_pem"},
                                 Credentials::Source{"", pki.client.cert_pem, "p.toml: cert_pem"},
                                 Credentials::Source{"", pki.server.key_pem, "p.toml: key_pem"});
  REQUIRE(!wrong);
  CHECK(wrong.error().message == "key does not match the certificate");
  // Broken inline DER: the message names the config file and key.
  std::string broken = pki.client.cert_pem;
  broken.replace(broken.find('\n') + 10, 8, "AAAAAAAA");
  auto bad = Credentials::load(Credentials::Source{ca, "", ""}, Credentials::Source{"", broken, "p.toml: cert_pem"},
                               Credentials::Source{"", pki.client.key_pem, "p.toml: key_pem"});
  REQUIRE(!bad);
  CHECK(bad.error().message.find("certificate (p.toml: cert_pem): ") == 0);
}

TEST_CASE("Credentials list every certificate's expiry, own chain first", "[tls][credentials]") {
  auto& pki = TestPki::get();
  Issued leaf = pki.ca.issue("bob", "20200101000000", "20300615120000");
  auto c = Credentials::from_pem(pki.ca.ca_pem() + pki.other_ca.ca_pem(), leaf.cert_pem, leaf.key_pem);
  REQUIRE(c);
  auto e = (*c)->expiries();
  REQUIRE(e.size() == 3);
  CHECK(e[0].kind == "cert");
  CHECK(e[0].subject == "bob");
  CHECK(e[0].not_after == 1907755200);   // 2030-06-15T12:00:00Z
  CHECK(e[0].serial.size() >= 2);
  CHECK(e[0].serial.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(e[1].kind == "ca");
  CHECK(e[1].subject == "ptun test CA");
  CHECK(e[2].kind == "ca");
  CHECK(e[2].subject == "some other CA");
  CHECK(e[1].not_after > 1900000000);
}

TEST_CASE("X.509 times convert to unix seconds past 2038 on every target", "[credentials]") {
  auto at = [](int y, int mo, int d, int h, int mi, int s) {
    mbedtls_x509_time t{};
    t.year = y, t.mon = mo, t.day = d, t.hour = h, t.min = mi, t.sec = s;
    return detail::x509_time_to_unix(t);
  };
  CHECK(at(1970, 1, 1, 0, 0, 0) == 0);
  CHECK(at(2000, 2, 29, 0, 0, 0) == 951782400);
  CHECK(at(2030, 6, 15, 12, 0, 0) == 1907755200);
  CHECK(at(2038, 1, 19, 3, 14, 8) == 2147483648LL);   // one past a 32-bit time_t (timegm gave -1 there)
  CHECK(at(2050, 1, 1, 0, 0, 0) == 2524608000LL);
  CHECK(at(9999, 12, 31, 23, 59, 59) == 253402300799LL);   // RFC 5280's "no well-defined expiry"
}
