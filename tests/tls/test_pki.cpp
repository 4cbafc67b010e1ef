// ptun pki: a CA and certificates written with mbedTLS, read back and verified by mbedTLS and —
// cross-checked with OpenSSL in both directions (scripts/install-deps.sh installs `openssl`; a
// machine without it fails these tests, naming it, rather than skipping them quietly).
// The tests inspect certificate fields that mbedTLS 3 made private (CA flag, key usage, ...).
#define MBEDTLS_ALLOW_PRIVATE_ACCESS
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "common/rng.hpp"
#include "tls/mbedtls_util.hpp"
#include "tls/pki.hpp"

namespace pki = ptun::tls::pki;
using ptun::Errc;
using ptun::IpAddr;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/ptun-pki-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& f) const { return path + "/" + f; }
};

struct Crt {
  mbedtls_x509_crt c;
  Crt() { mbedtls_x509_crt_init(&c); }
  ~Crt() { mbedtls_x509_crt_free(&c); }
  Crt(const Crt&) = delete;
  Crt& operator=(const Crt&) = delete;
};

std::unique_ptr<Crt> load(const std::string& path) {
  auto crt = std::make_unique<Crt>();
  int ret = mbedtls_x509_crt_parse_file(&crt->c, path.c_str());
  INFO(path);
  REQUIRE(ret == 0);
  return crt;
}

// Verification flags (0 = trusted) of `leaf` against the CA certificate in `ca_path`.
uint32_t verify(const std::string& leaf_path, const std::string& ca_path,
                const char* cn = nullptr) {
  auto leaf = load(leaf_path);
  auto ca = load(ca_path);
  uint32_t flags = 0;
  int ret = mbedtls_x509_crt_verify(&leaf->c, &ca->c, nullptr, cn, &flags, nullptr, nullptr);
  if (ret == 0) REQUIRE(flags == 0);
  return ret == 0 ? 0 : (flags ? flags : 0xffffffffu);
}

unsigned file_mode(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return unsigned(st.st_mode & 07777);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int rng_cb(void* p, unsigned char* out, size_t n) {
  static_cast<ptun::Rng*>(p)->fill(out, n);
  return 0;
}

// 64-bit on every target (timegm fails past 2038 with a 32-bit time_t).
int64_t to_time(const mbedtls_x509_time& x) { return ptun::tls::detail::x509_time_to_unix(x); }

bool same_bytes(const mbedtls_x509_buf& a, const mbedtls_x509_buf& b) {
  return a.len == b.len && std::equal(a.p, a.p + a.len, b.p);
}

bool has_openssl() { return std::system("command -v openssl >/dev/null 2>&1") == 0; }

// Runs a shell command; returns its exit status and (stdout+stderr) in *out.
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

IpAddr ip(const char* s) {
  auto r = IpAddr::parse(s);
  REQUIRE(r.ok());
  return *r;
}

pki::IssueOptions server_opts() {
  pki::IssueOptions o;
  o.server = true;
  o.dns_names = {"vpn.example.com"};
  o.ip_addresses = {ip("192.0.2.10"), ip("2001:db8::10")};
  return o;
}

}  // namespace

TEST_CASE("pki: extension DER encodings", "[pki][der]") {
  SECTION("subjectAltName: dNSName [2] entries, then iPAddress [7]") {
    auto der = pki::encode_subject_alt_name({"a.b", "c"}, {ip("10.0.0.1")});
    REQUIRE(der.ok());
    const std::vector<uint8_t> want = {0x30, 0x0e, 0x82, 0x03, 'a',  '.',  'b',  0x82,
                                       0x01, 'c',  0x87, 0x04, 0x0a, 0x00, 0x00, 0x01};
    CHECK(*der == want);
    auto v6 = pki::encode_subject_alt_name({}, {ip("2001:db8::1")});
    REQUIRE(v6.ok());
    REQUIRE(v6->size() == 20);
    CHECK((*v6)[2] == 0x87);
    CHECK((*v6)[3] == 16);
    CHECK((*v6)[4] == 0x20);
    CHECK((*v6)[19] == 0x01);
  }
  SECTION("a long name gets a long-form length") {
    std::string longname(200, 'a');
    auto der = pki::encode_subject_alt_name({longname}, {});
    REQUIRE(der.ok());
    // 30 81 CB 82 81 C8 <200 bytes>
    REQUIRE(der->size() == 206);
    CHECK((*der)[0] == 0x30);
    CHECK((*der)[1] == 0x81);
    CHECK((*der)[2] == 203);
    CHECK((*der)[3] == 0x82);
    CHECK((*der)[4] == 0x81);
    CHECK((*der)[5] == 200);
  }
  SECTION("bad entries are refused") {
    CHECK(pki::encode_subject_alt_name({}, {}).error().code == Errc::invalid_argument);
    CHECK(pki::encode_subject_alt_name({""}, {}).error().code == Errc::invalid_argument);
    CHECK(pki::encode_subject_alt_name({"a b"}, {}).error().code == Errc::invalid_argument);
    CHECK(pki::encode_subject_alt_name({"x\xc3\xa9"}, {}).error().code == Errc::invalid_argument);
    CHECK(pki::encode_subject_alt_name({std::string(254, 'a')}, {}).error().code ==
          Errc::invalid_argument);
    CHECK(pki::encode_subject_alt_name({}, {IpAddr{}}).error().code == Errc::invalid_argument);
    std::vector<std::string> many(pki::kMaxSanEntries + 1, "x");
    CHECK(pki::encode_subject_alt_name(many, {}).error().code == Errc::invalid_argument);
    many.pop_back();
    CHECK(pki::encode_subject_alt_name(many, {}).ok());
  }
  SECTION("extendedKeyUsage") {
    const std::vector<uint8_t> server = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
                                         0x01, 0x05, 0x05, 0x07, 0x03, 0x01};
    std::vector<uint8_t> client = server;
    client.back() = 0x02;
    CHECK(pki::encode_extended_key_usage(true) == server);
    CHECK(pki::encode_extended_key_usage(false) == client);
  }
}

TEST_CASE("pki: safe names", "[pki]") {
  CHECK(pki::is_safe_name(std::string(64, 'n')));
  for (const char* good : {"a", "alice", "srv-1.example_com", "A9", "x.", "-x", "_"}) {
    INFO(good);
    CHECK(pki::is_safe_name(good));
  }
  for (const char* bad : {"", ".hidden", "..", "a/b", "../x", "a b", "a\\b", "caf\xc3\xa9",
                          "x\ny", "a:b", "*"}) {
    INFO(bad);
    CHECK_FALSE(pki::is_safe_name(bad));
  }
  CHECK_FALSE(pki::is_safe_name(std::string(65, 'n')));
}

TEST_CASE("pki: init_ca writes a P-256 CA with private key mode 0600", "[pki]") {
  TempDir t;
  const std::string dir = t / "pki";
  ptun::SeededRng rng(1);
  auto r = pki::init_ca(dir, "Test CA, Inc. = \"x\"", rng);
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  CHECK(file_mode(dir) == 0700);
  CHECK(file_mode(t / "pki/ca.key") == 0600);
  CHECK_FALSE(std::filesystem::exists(t / "pki/ca.crt.tmp"));

  auto ca = load(t / "pki/ca.crt");
  const mbedtls_x509_crt& c = ca->c;
  CHECK(c.version == 3);
  CHECK(c.ca_istrue == 1);
  CHECK(c.max_pathlen == 1);  // mbedTLS stores RFC pathlen + 1: pathlen 0
  CHECK(c.key_usage == (MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN));
  CHECK(c.sig_md == MBEDTLS_MD_SHA256);
  CHECK(c.serial.len == 16);
  REQUIRE(mbedtls_pk_get_type(&c.pk) == MBEDTLS_PK_ECKEY);
  CHECK(mbedtls_ecp_keypair_get_group_id(mbedtls_pk_ec(c.pk)) == MBEDTLS_ECP_DP_SECP256R1);
  // RFC 7093 key identifiers (SHA-256, 160 bits); a self-signed CA names itself as authority.
  CHECK(c.subject_key_id.len == 20);
  CHECK(same_bytes(c.subject_key_id, c.authority_key_id.keyIdentifier));
  // Stored verbatim as one CN attribute (mbedTLS's "CN=..." string parser would have split
  // it at the comma).
  CHECK(c.subject.next == nullptr);
  CHECK(c.subject.val.tag == MBEDTLS_ASN1_UTF8_STRING);
  CHECK(std::string(reinterpret_cast<const char*>(c.subject.val.p), c.subject.val.len) ==
        "Test CA, Inc. = \"x\"");
  CHECK(same_bytes(c.subject_raw, c.issuer_raw));
  const time_t now = ::time(nullptr);
  CHECK(std::labs(long(to_time(c.valid_from) - (now - 3600))) < 120);
  CHECK(std::labs(long(to_time(c.valid_to) - (now + pki::kCaValidityDays * 86400L))) < 120);
  // Self-signed and trusted by itself.
  CHECK(verify(t / "pki/ca.crt", t / "pki/ca.crt") == 0);

  mbedtls_pk_context key;
  mbedtls_pk_init(&key);
  CHECK(mbedtls_pk_parse_keyfile(&key, (t / "pki/ca.key").c_str(), nullptr, rng_cb, &rng) == 0);
  CHECK(mbedtls_pk_check_pair(&c.pk, &key, rng_cb, &rng) == 0);
  mbedtls_pk_free(&key);

  SECTION("a second init refuses and leaves the CA untouched") {
    const std::string before = read_file(t / "pki/ca.crt");
    ptun::SeededRng rng2(2);
    auto again = pki::init_ca(dir, pki::kDefaultCaName, rng2);
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code == Errc::exists);
    CHECK(read_file(t / "pki/ca.crt") == before);
  }
  SECTION("bad CA names are refused") {
    TempDir t2;
    CHECK(pki::init_ca(t2 / "a", "", rng).error().code == Errc::invalid_argument);
    CHECK(pki::init_ca(t2 / "a", std::string(65, 'c'), rng).error().code ==
          Errc::invalid_argument);
    CHECK(pki::init_ca(t2 / "a", "tab\there", rng).error().code == Errc::invalid_argument);
    CHECK(pki::init_ca("", pki::kDefaultCaName, rng).error().code == Errc::invalid_argument);
    CHECK_FALSE(std::filesystem::exists(t2 / "a"));
  }
}

TEST_CASE("pki: issued server and client certificates verify against the CA", "[pki]") {
  TempDir t;
  const std::string dir = t.path;
  ptun::SeededRng rng(7);
  REQUIRE(pki::init_ca(dir, pki::kDefaultCaName, rng).ok());
  auto rs = pki::issue(dir, "server1", server_opts(), rng);
  INFO((rs.ok() ? std::string() : rs.error().message));
  REQUIRE(rs.ok());
  REQUIRE(pki::issue(dir, "alice", {}, rng).ok());

  for (const char* n : {"server1", "alice"}) {
    INFO(n);
    const std::string name = n;
    CHECK(file_mode(t / (name + ".key")) == 0600);
    auto leaf = load(t / (name + ".crt"));
    auto ca = load(t / "ca.crt");
    const mbedtls_x509_crt& c = leaf->c;
    CHECK(c.ca_istrue == 0);
    CHECK(c.key_usage == MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
    CHECK(c.serial.len == 16);
    CHECK(c.sig_md == MBEDTLS_MD_SHA256);
    CHECK(same_bytes(c.issuer_raw, ca->c.subject_raw));
    CHECK_FALSE(same_bytes(c.serial, ca->c.serial));
    char dn[128];
    REQUIRE(mbedtls_x509_dn_gets(dn, sizeof dn, &c.subject) > 0);
    CHECK(std::string(dn) == "CN=" + name);  // safe names need no escaping
    REQUIRE(mbedtls_pk_get_type(&c.pk) == MBEDTLS_PK_ECKEY);
    CHECK(mbedtls_ecp_keypair_get_group_id(mbedtls_pk_ec(c.pk)) == MBEDTLS_ECP_DP_SECP256R1);
    CHECK(c.subject_key_id.len == 20);
    CHECK_FALSE(same_bytes(c.subject_key_id, ca->c.subject_key_id));
    CHECK(same_bytes(c.authority_key_id.keyIdentifier, ca->c.subject_key_id));
    const time_t now = ::time(nullptr);
    CHECK(std::labs(long(to_time(c.valid_from) - (now - 3600))) < 120);
    CHECK(std::labs(long(to_time(c.valid_to) - (now + 825 * 86400L))) < 120);
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    CHECK(mbedtls_pk_parse_keyfile(&key, (t / (name + ".key")).c_str(), nullptr, rng_cb, &rng) == 0);
    CHECK(mbedtls_pk_check_pair(&c.pk, &key, rng_cb, &rng) == 0);
    mbedtls_pk_free(&key);
    CHECK(verify(t / (name + ".crt"), t / "ca.crt") == 0);
  }

  auto srv = load(t / "server1.crt");
  auto cli = load(t / "alice.crt");
  const auto& eku_server = MBEDTLS_OID_SERVER_AUTH;
  const auto& eku_client = MBEDTLS_OID_CLIENT_AUTH;
  CHECK(mbedtls_x509_crt_check_extended_key_usage(&srv->c, eku_server, sizeof eku_server - 1) == 0);
  CHECK(mbedtls_x509_crt_check_extended_key_usage(&srv->c, eku_client, sizeof eku_client - 1) != 0);
  CHECK(mbedtls_x509_crt_check_extended_key_usage(&cli->c, eku_client, sizeof eku_client - 1) == 0);
  CHECK(mbedtls_x509_crt_check_extended_key_usage(&cli->c, eku_server, sizeof eku_server - 1) != 0);
  // The server's subjectAltName entries as mbedTLS parsed them: (tag, raw value).
  std::vector<std::pair<int, std::string>> sans;
  for (const mbedtls_x509_sequence* s = &srv->c.subject_alt_names; s && s->buf.p; s = s->next) {
    sans.emplace_back(s->buf.tag, std::string(reinterpret_cast<const char*>(s->buf.p), s->buf.len));
  }
  const int kDns = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2, kIp = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7;
  const std::vector<std::pair<int, std::string>> want_sans = {
      {kDns, "server1"},
      {kDns, "vpn.example.com"},
      {kIp, std::string("\xc0\x00\x02\x0a", 4)},
      {kIp, std::string("\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\x00\x10", 16)}};
  CHECK(sans == want_sans);
  CHECK(cli->c.subject_alt_names.buf.p == nullptr);

  // Name checks: with a subjectAltName present, mbedTLS matches the expected name against it.
  CHECK(verify(t / "server1.crt", t / "ca.crt", "server1") == 0);
  CHECK(verify(t / "server1.crt", t / "ca.crt", "vpn.example.com") == 0);
  CHECK((verify(t / "server1.crt", t / "ca.crt", "evil.example.com") &
         MBEDTLS_X509_BADCERT_CN_MISMATCH) != 0);

  SECTION("issuing the same name twice refuses and keeps the first pair") {
    const std::string key_before = read_file(t / "alice.key");
    auto again = pki::issue(dir, "alice", {}, rng);
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code == Errc::exists);
    CHECK(read_file(t / "alice.key") == key_before);
  }
  SECTION("bad names and options are refused without leaving files") {
    for (const char* bad : {"", ".x", "../evil", "a/b", "with space", "ca"}) {
      INFO(bad);
      auto r = pki::issue(dir, bad, {}, rng);
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == Errc::invalid_argument);
    }
    CHECK(pki::issue("", "bob", {}, rng).error().code == Errc::invalid_argument);
    pki::IssueOptions o;
    o.days = 0;
    CHECK(pki::issue(dir, "bob", o, rng).error().code == Errc::invalid_argument);
    o.days = pki::kMaxLeafDays + 1;
    CHECK(pki::issue(dir, "bob", o, rng).error().code == Errc::invalid_argument);
    o = server_opts();
    o.dns_names.push_back("bad name");
    CHECK(pki::issue(dir, "bob", o, rng).error().code == Errc::invalid_argument);
    CHECK_FALSE(std::filesystem::exists(t / "bob.key"));
    CHECK_FALSE(std::filesystem::exists(t / "bob.crt"));
  }
  SECTION("a leaf never outlives its CA") {
    pki::IssueOptions o;
    o.days = pki::kMaxLeafDays;
    REQUIRE(pki::issue(dir, "longlived", o, rng).ok());
    auto leaf = load(t / "longlived.crt");
    auto ca = load(t / "ca.crt");
    CHECK(to_time(leaf->c.valid_to) <= to_time(ca->c.valid_to));
    CHECK(verify(t / "longlived.crt", t / "ca.crt") == 0);
  }
}

TEST_CASE("pki: a fixed issue time gives the same certificates in every run", "[pki]") {
  // The fuzz fixture's way: fixed seed and time, so two processes hold the same credentials.
  const int64_t at = 1704067200;  // 2024-01-01T00:00:00Z
  std::string first[2];
  for (int run = 0; run < 2; ++run) {
    TempDir t;
    ptun::SeededRng rng(42);
    pki::IssueOptions o;
    o.now = at;
    o.days = pki::kMaxLeafDays;
    REQUIRE(pki::init_ca(t.path, "fuzz CA", rng, at).ok());
    REQUIRE(pki::issue(t.path, "alice", o, rng).ok());
    auto ca = load(t / "ca.crt");
    auto leaf = load(t / "alice.crt");
    CHECK(to_time(ca->c.valid_from) == at - 3600);
    CHECK(to_time(ca->c.valid_to) == at + pki::kCaValidityDays * 86400L);
    CHECK(to_time(leaf->c.valid_from) == at - 3600);
    CHECK(to_time(leaf->c.valid_to) == at + pki::kMaxLeafDays * 86400L);
    CHECK(verify(t / "alice.crt", t / "ca.crt") == 0);
    const std::string both = read_file(t / "ca.crt") + read_file(t / "alice.crt");
    if (run == 0)
      first[0] = both;
    else
      CHECK(both == first[0]);
    if (run == 0) ::sleep(1);  // a second later: the clock must not show in the bytes
  }
}

TEST_CASE("pki: a certificate from another CA does not verify", "[pki]") {
  TempDir t;
  ptun::SeededRng rng1(11), rng2(12);
  REQUIRE(pki::init_ca(t / "one", pki::kDefaultCaName, rng1).ok());
  REQUIRE(pki::init_ca(t / "two", pki::kDefaultCaName, rng2).ok());  // same CN, other key
  REQUIRE(pki::issue(t / "two", "mallory", {}, rng2).ok());
  CHECK(verify(t / "two/mallory.crt", t / "two/ca.crt") == 0);
  CHECK((verify(t / "two/mallory.crt", t / "one/ca.crt") & MBEDTLS_X509_BADCERT_NOT_TRUSTED) != 0);
}

TEST_CASE("pki: issue refuses a missing or inconsistent CA", "[pki]") {
  TempDir t;
  ptun::SeededRng rng(21);
  auto none = pki::issue(t.path, "alice", {}, rng);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().code == Errc::not_found);

  REQUIRE(pki::init_ca(t / "one", pki::kDefaultCaName, rng).ok());
  REQUIRE(pki::init_ca(t / "two", pki::kDefaultCaName, rng).ok());
  // ca.crt of one with ca.key of two: signing would produce certificates nobody trusts.
  std::filesystem::remove(t / "one/ca.key");
  std::filesystem::copy_file(t / "two/ca.key", t / "one/ca.key");
  auto mixed = pki::issue(t / "one", "alice", {}, rng);
  REQUIRE_FALSE(mixed.ok());
  CHECK(mixed.error().code == Errc::auth);
  CHECK_FALSE(std::filesystem::exists(t / "one/alice.key"));
}

TEST_CASE("pki: OpenSSL accepts what ptun issues", "[pki][openssl]") {
  if (!has_openssl()) FAIL("openssl missing: run scripts/install-deps.sh");
  TempDir t;
  ptun::SeededRng rng(31);
  REQUIRE(pki::init_ca(t.path, pki::kDefaultCaName, rng).ok());
  REQUIRE(pki::issue(t.path, "server1", server_opts(), rng).ok());
  REQUIRE(pki::issue(t.path, "alice", {}, rng).ok());
  std::string out;
  const std::string ca = t / "ca.crt";
  for (const char* n : {"server1", "alice"}) {
    const std::string crt = t / (std::string(n) + ".crt");
    INFO(out);
    CHECK(run("openssl verify -x509_strict -CAfile '" + ca + "' '" + crt + "'", &out) == 0);
  }
  CHECK(run("openssl verify -x509_strict -purpose sslserver -CAfile '" + ca + "' '" +
                (t / "server1.crt") + "'", &out) == 0);
  CHECK(run("openssl verify -x509_strict -purpose sslclient -CAfile '" + ca + "' '" +
                (t / "alice.crt") + "'", &out) == 0);
  CHECK(run("openssl verify -purpose sslserver -CAfile '" + ca + "' '" + (t / "alice.crt") + "'",
            &out) != 0);

  REQUIRE(run("openssl x509 -noout -text -in '" + (t / "server1.crt") + "'", &out) == 0);
  INFO(out);
  CHECK(out.find("DNS:server1, DNS:vpn.example.com, IP Address:192.0.2.10, "
                 "IP Address:2001:DB8:0:0:0:0:0:10") != std::string::npos);
  CHECK(out.find("TLS Web Server Authentication") != std::string::npos);
  CHECK(out.find("X509v3 Authority Key Identifier") != std::string::npos);
  CHECK(out.find("X509v3 Subject Key Identifier") != std::string::npos);
  CHECK(out.find("CA:FALSE") != std::string::npos);
  CHECK(out.find("Digital Signature") != std::string::npos);
  CHECK(out.find("Subject: CN = server1") != std::string::npos);

  REQUIRE(run("openssl x509 -noout -text -in '" + (t / "alice.crt") + "'", &out) == 0);
  CHECK(out.find("TLS Web Client Authentication") != std::string::npos);
  CHECK(out.find("Subject Alternative Name") == std::string::npos);

  REQUIRE(run("openssl x509 -noout -text -in '" + ca + "'", &out) == 0);
  CHECK(out.find("CA:TRUE, pathlen:0") != std::string::npos);
  CHECK(out.find("Certificate Sign, CRL Sign") != std::string::npos);
  CHECK(out.find("prime256v1") != std::string::npos);
  // The private keys are readable by OpenSSL too.
  CHECK(run("openssl pkey -noout -in '" + (t / "ca.key") + "'", &out) == 0);
}

TEST_CASE("pki: mbedTLS accepts an OpenSSL CA, and ptun can issue from it", "[pki][openssl]") {
  if (!has_openssl()) FAIL("openssl missing: run scripts/install-deps.sh");
  TempDir t;
  {
    std::ofstream cnf(t / "openssl.cnf");
    cnf << "[req]\ndistinguished_name = dn\nprompt = no\n"
           "[dn]\nO = ptun test\nCN = OpenSSL Test CA\n"
           "[v3_ca]\nbasicConstraints = critical,CA:TRUE,pathlen:0\n"
           "keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"
           "authorityKeyIdentifier = keyid:always\n"
           "[v3_client]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n"
           "extendedKeyUsage = clientAuth\nsubjectKeyIdentifier = hash\n"
           "authorityKeyIdentifier = keyid\n";
  }
  const std::string cd = "cd '" + t.path + "' && ";
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256";
  std::string out;
  REQUIRE(run(cd + "openssl req -x509 -config openssl.cnf -extensions v3_ca" + ec +
                  " -keyout ca.key -out ca.crt -days 30", &out) == 0);
  INFO(out);
  REQUIRE(run(cd + "openssl req -new -config openssl.cnf -subj /CN=osclient" + ec +
                  " -keyout osclient.key -out osclient.csr", &out) == 0);
  REQUIRE(run(cd + "openssl x509 -req -in osclient.csr -CA ca.crt -CAkey ca.key "
                   "-set_serial 0x1234abcd -days 30 -sha256 -extfile openssl.cnf "
                   "-extensions v3_client -out osclient.crt", &out) == 0);

  CHECK(verify(t / "osclient.crt", t / "ca.crt") == 0);
  auto cli = load(t / "osclient.crt");
  const auto& eku_client = MBEDTLS_OID_CLIENT_AUTH;
  CHECK(mbedtls_x509_crt_check_extended_key_usage(&cli->c, eku_client, sizeof eku_client - 1) == 0);

  // ptun issue into the OpenSSL CA's directory: a two-RDN subject and a PKCS#8 key.
  ptun::SeededRng rng(41);
  auto r = pki::issue(t.path, "server1", server_opts(), rng);
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  auto srv = load(t / "server1.crt");
  auto ca = load(t / "ca.crt");
  CHECK(same_bytes(srv->c.issuer_raw, ca->c.subject_raw));
  CHECK(verify(t / "server1.crt", t / "ca.crt", "vpn.example.com") == 0);
  CHECK(run("openssl verify -x509_strict -purpose sslserver -CAfile '" + (t / "ca.crt") + "' '" +
                (t / "server1.crt") + "'", &out) == 0);
}

TEST_CASE("pki: fingerprints are OpenSSL's SHA-256 and tell a reissued certificate apart", "[pki][openssl][fingerprint]") {
  if (!has_openssl()) FAIL("openssl missing: run scripts/install-deps.sh");
  TempDir t;
  ptun::SeededRng rng(47);
  REQUIRE(pki::init_ca(t.path, pki::kDefaultCaName, rng).ok());
  REQUIRE(pki::issue(t.path, "alice", {}, rng).ok());
  auto fp = pki::cert_fingerprint(t / "alice.crt");
  REQUIRE(fp.ok());
  // `openssl x509 -fingerprint -sha256` prints "sha256 Fingerprint=AB:CD:..."; the pin parser
  // takes that form and must land on the same bytes.
  std::string out;
  REQUIRE(run("openssl x509 -noout -fingerprint -sha256 -in '" + (t / "alice.crt") + "'", &out) == 0);
  const size_t eq = out.find('=');
  REQUIRE(eq != std::string::npos);
  std::string theirs = out.substr(eq + 1);
  while (!theirs.empty() && (theirs.back() == '\n' || theirs.back() == '\r')) theirs.pop_back();
  ptun::Fingerprint parsed{};
  REQUIRE(ptun::parse_fingerprint(theirs, &parsed) == "");
  CHECK(parsed == *fp);

  // The same name issued again (the old pair moved away): same CN, another fingerprint.
  std::filesystem::rename(t / "alice.crt", t / "alice-old.crt");
  std::filesystem::rename(t / "alice.key", t / "alice-old.key");
  REQUIRE(pki::issue(t.path, "alice", {}, rng).ok());
  auto fp2 = pki::cert_fingerprint(t / "alice.crt");
  REQUIRE(fp2.ok());
  CHECK(*fp2 != *fp);
  auto l = pki::list(t.path);
  REQUIRE(l.ok());
  REQUIRE(l->size() == 2);
  CHECK((*l)[0].name == "alice");
  CHECK((*l)[0].fingerprint == *fp2);
  CHECK((*l)[1].name == "alice-old");
  CHECK((*l)[1].fingerprint == *fp);
  CHECK(pki::cert_fingerprint(t / "nope.crt").error().code == Errc::io);
  CHECK(pki::cert_fingerprint(t / "alice.key").error().code == Errc::invalid_argument);
}
