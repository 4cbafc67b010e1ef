// ptun pki revoke/list/crl: the CRL ptun writes is parsed by mbedTLS, makes mbedTLS refuse the
// revoked certificate (and only it), and is verified by OpenSSL against the CA.
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "common/rng.hpp"
#include "tls/crl.hpp"
#include "tls/credentials.hpp"
#include "tls/pki.hpp"

namespace pki = ptun::tls::pki;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/ptun-crl-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& f) const { return path + "/" + f; }
};

int run(const std::string& cmd, std::string* out) {
  out->clear();
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// mbedTLS verification flags of DIR/NAME.crt against the CA and DIR/crl.pem.
uint32_t verify_flags(const TempDir& t, const std::string& name) {
  mbedtls_x509_crt ca, crt;
  mbedtls_x509_crl crl;
  mbedtls_x509_crt_init(&ca);
  mbedtls_x509_crt_init(&crt);
  mbedtls_x509_crl_init(&crl);
  REQUIRE(mbedtls_x509_crt_parse_file(&ca, (t / "ca.crt").c_str()) == 0);
  REQUIRE(mbedtls_x509_crt_parse_file(&crt, (t / (name + ".crt")).c_str()) == 0);
  REQUIRE(mbedtls_x509_crl_parse_file(&crl, (t / "crl.pem").c_str()) == 0);
  uint32_t flags = 0;
  mbedtls_x509_crt_verify(&crt, &ca, &crl, nullptr, &flags, nullptr, nullptr);
  mbedtls_x509_crl_free(&crl);
  mbedtls_x509_crt_free(&crt);
  mbedtls_x509_crt_free(&ca);
  return flags;
}

size_t crl_entries(const TempDir& t) {
  mbedtls_x509_crl crl;
  mbedtls_x509_crl_init(&crl);
  REQUIRE(mbedtls_x509_crl_parse_file(&crl, (t / "crl.pem").c_str()) == 0);
  size_t n = 0;
  for (const mbedtls_x509_crl_entry* e = &crl.entry; e != nullptr; e = e->next) {
    if (e->serial.len > 0) ++n;
  }
  mbedtls_x509_crl_free(&crl);
  return n;
}

}  // namespace

TEST_CASE("pki crl: serial hex round trip and bad input", "[pki][crl]") {
  auto s = pki::parse_serial_hex("0A:bc:01");
  REQUIRE(s.ok());
  CHECK(pki::serial_hex(s->data(), s->size()) == "0abc01");
  CHECK(pki::parse_serial_hex("abc")->size() == 2);
  CHECK(!pki::parse_serial_hex("").ok());
  CHECK(!pki::parse_serial_hex("xyz").ok());
  CHECK(!pki::parse_serial_hex(std::string(42, 'a')).ok());
}

TEST_CASE("pki crl: TBSCertList DER layout", "[pki][crl]") {
  const std::vector<uint8_t> issuer{0x30, 0x00};
  auto empty = pki::encode_crl_tbs(issuer, 0, 86400, 5, {});
  auto one = pki::encode_crl_tbs(issuer, 0, 86400, 5, {{{0x01, 0x02}, 3600}});
  REQUIRE(empty.size() > 4);
  CHECK(empty[0] == 0x30);
  CHECK(size_t(empty[1]) + 2 == empty.size());
  // version INTEGER 1 comes first (v2); thisUpdate is a UTCTime "700101000000Z".
  CHECK(empty[2] == 0x02);
  CHECK(empty[3] == 0x01);
  CHECK(empty[4] == 0x01);
  const std::string text(empty.begin(), empty.end());
  CHECK(text.find("700101000000Z") != std::string::npos);
  CHECK(text.find("700102000000Z") != std::string::npos);
  // One entry: SEQUENCE { SEQUENCE { INTEGER 0102, UTCTime } } = 2 + 2 + 4 + 15 bytes more.
  CHECK(one.size() == empty.size() + 23);
}

TEST_CASE("pki crl: revoke writes an index and a CRL that mbedTLS enforces", "[pki][crl]") {
  TempDir t;
  ptun::SeededRng rng(77);
  REQUIRE(pki::init_ca(t.path, pki::kDefaultCaName, rng).ok());
  REQUIRE(pki::issue(t.path, "alice", {}, rng).ok());
  REQUIRE(pki::issue(t.path, "bob", {}, rng).ok());
  REQUIRE(pki::write_crl(t.path).ok());
  CHECK(crl_entries(t) == 0);
  CHECK(verify_flags(t, "bob") == 0);

  bool already = true;
  auto serial = pki::revoke(t.path, "bob", &already);
  REQUIRE(serial.ok());
  CHECK_FALSE(already);
  CHECK(crl_entries(t) == 1);
  CHECK((verify_flags(t, "bob") & MBEDTLS_X509_BADCERT_REVOKED) != 0);
  CHECK(verify_flags(t, "alice") == 0);

  // Idempotent, by name or by serial.
  REQUIRE(pki::revoke(t.path, "bob", &already).ok());
  CHECK(already);
  REQUIRE(pki::revoke(t.path, *serial, &already).ok());
  CHECK(already);
  CHECK(crl_entries(t) == 1);

  auto l = pki::list(t.path);
  REQUIRE(l.ok());
  REQUIRE(l->size() == 2);
  CHECK((*l)[0].name == "alice");
  CHECK_FALSE((*l)[0].revoked);
  CHECK((*l)[1].name == "bob");
  CHECK((*l)[1].revoked);
  CHECK((*l)[1].serial == *serial);
  CHECK((*l)[1].not_after > 0);
  // `ptun doctor`'s expiry check reads the same notAfter, from the file or from inline PEM.
  auto na = pki::cert_not_after(t.path + "/alice.crt");
  REQUIRE(na.ok());
  CHECK(*na == (*l)[0].not_after);
  std::ifstream pem_file(t.path + "/alice.crt");
  std::string pem((std::istreambuf_iterator<char>(pem_file)), std::istreambuf_iterator<char>());
  auto from_pem = pki::cert_not_after("", pem);
  REQUIRE(from_pem.ok());
  CHECK(*from_pem == *na);
  CHECK(pki::cert_not_after(t.path + "/nothing.crt").error().code == ptun::Errc::io);
  CHECK(pki::cert_not_after("", "-----BEGIN CERTIFICATE-----\nnot base64\n").error().code == ptun::Errc::io);

  CHECK(pki::revoke(t.path, "nobody", &already).error().code == ptun::Errc::not_found);
}

TEST_CASE("pki crl: OpenSSL verifies the CRL and refuses the revoked certificate",
          "[pki][crl][openssl]") {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
    FAIL("openssl missing: run scripts/install-deps.sh");
  }
  TempDir t;
  ptun::SeededRng rng(78);
  REQUIRE(pki::init_ca(t.path, pki::kDefaultCaName, rng).ok());
  REQUIRE(pki::issue(t.path, "alice", {}, rng).ok());
  REQUIRE(pki::issue(t.path, "bob", {}, rng).ok());
  bool already = false;
  REQUIRE(pki::revoke(t.path, "bob", &already).ok());
  std::string out;
  const std::string ca = t / "ca.crt", crl = t / "crl.pem";
  CHECK(run("openssl crl -noout -verify -CAfile '" + ca + "' -in '" + crl + "'", &out) == 0);
  INFO(out);
  CHECK(out.find("verify OK") != std::string::npos);
  CHECK(run("openssl verify -crl_check -CAfile '" + ca + "' -CRLfile '" + crl + "' '" +
                (t / "alice.crt") + "'",
            &out) == 0);
  CHECK(run("openssl verify -crl_check -CAfile '" + ca + "' -CRLfile '" + crl + "' '" +
                (t / "bob.crt") + "'",
            &out) != 0);
  CHECK(out.find("revoked") != std::string::npos);
}

TEST_CASE("pki crl: the server's Crl loads ptun's CRL and finds revoked serials", "[pki][crl]") {
  TempDir t;
  ptun::SeededRng rng(79);
  REQUIRE(pki::init_ca(t.path, pki::kDefaultCaName, rng).ok());
  pki::IssueOptions so;
  so.server = true;
  REQUIRE(pki::issue(t.path, "server1", so, rng).ok());
  REQUIRE(pki::issue(t.path, "alice", {}, rng).ok());
  REQUIRE(pki::issue(t.path, "bob", {}, rng).ok());
  auto creds = ptun::tls::Credentials::load(t / "ca.crt", t / "server1.crt", t / "server1.key");
  REQUIRE(creds.ok());
  bool already = false;
  auto bob = pki::revoke(t.path, "bob", &already);
  REQUIRE(bob.ok());
  auto crl = ptun::tls::Crl::load(t / "crl.pem", **creds);
  REQUIRE(crl.ok());
  CHECK((*crl)->size() == 1);
  auto b = pki::parse_serial_hex(*bob);
  REQUIRE(b.ok());
  CHECK((*crl)->revoked(b->data(), b->size()));
  auto alice = pki::list(t.path);
  REQUIRE(alice.ok());
  auto a = pki::parse_serial_hex((*alice)[0].serial);
  CHECK_FALSE((*crl)->revoked(a->data(), a->size()));

  // A CRL signed by another CA with the same name would make mbedTLS refuse every peer: refused.
  TempDir other;
  REQUIRE(pki::init_ca(other.path, pki::kDefaultCaName, rng).ok());
  REQUIRE(pki::write_crl(other.path).ok());
  auto bad = ptun::tls::Crl::load(other / "crl.pem", **creds);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("not signed by the CA") != std::string::npos);
  // Garbage is refused, not a crash.
  { std::ofstream(t / "junk.pem") << "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"; }
  CHECK_FALSE(ptun::tls::Crl::load(t / "junk.pem", **creds).ok());
  CHECK(ptun::tls::Crl::load(t / "missing.pem", **creds).error().code == ptun::Errc::io);
}
