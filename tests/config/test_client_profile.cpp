// One-file client profiles: ca_pem/cert_pem/key_pem instead of files, the PEM structure checked
// at load with file/line/key, the profile writer (`pki issue --profile`) read back by the parser.
#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "config/pem_text.hpp"

using namespace ptun;
using namespace ptun::config;

namespace {

// Structurally valid PEM (the DER inside is not looked at here).
const std::string kCert = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIQ\nAAAA\n-----END CERTIFICATE-----\n";
const std::string kKey = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA==\n-----END EC PRIVATE KEY-----\n";

std::string lit(const std::string& key, const std::string& pem) { return key + " = '''\n" + pem + "'''\n"; }

std::string head() { return "server = \"198.18.0.2:4433\"\nserver_name = \"vpn.example.com\"\n"; }

std::string error_of(const std::string& text) {
  auto r = parse_client(text, "p.toml");
  return r ? "" : r.error().message;
}

}  // namespace

TEST_CASE("check_pem accepts PEM blocks and names what is wrong", "[config][profile]") {
  CHECK(check_pem(kCert, {kPemCertificate}) == "");
  CHECK(check_pem(kCert + "\n" + kCert, {kPemCertificate}) == "");   // a chain
  CHECK(check_pem("  " + kCert, {kPemCertificate}) == "");           // indented in the file
  CHECK(check_pem(kKey, {kPemEcKey, kPemPkcs8Key}) == "");
  CHECK(check_pem("", {kPemCertificate}) == "empty: no PEM block");
  CHECK(check_pem("/etc/ptun/ca.crt", {kPemCertificate}).find("line 1 of the value: expected '-----BEGIN CERTIFICATE-----'") == 0);
  CHECK(check_pem(kKey, {kPemCertificate}).find("a EC PRIVATE KEY block where CERTIFICATE is expected") != std::string::npos);
  // Truncated: no END line.
  CHECK(check_pem(kCert.substr(0, kCert.find("-----END")), {kPemCertificate}).find("no '-----END CERTIFICATE-----'") !=
        std::string::npos);
  // A line lost in copying: the base64 no longer has a multiple of 4 characters.
  std::string lost = kCert;
  lost.erase(lost.find("AAAA\n"), 5);
  lost.insert(lost.find("-----END"), "AAA\n");
  CHECK(check_pem(lost, {kPemCertificate}).find("wrong length") != std::string::npos);
  // A stray character on line 3.
  std::string bad = kCert;
  bad.replace(bad.find("AAAA"), 1, "*");
  CHECK(check_pem(bad, {kPemCertificate}).find("line 3 of the value: a character that is not base64") == 0);
  CHECK(check_pem("-----BEGIN CERTIFICATE-----\nAA==\nAAAA\n-----END CERTIFICATE-----\n", {kPemCertificate})
            .find("after '=' padding") != std::string::npos);
  CHECK(check_pem("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", {kPemCertificate}).find("empty") !=
        std::string::npos);
  CHECK(check_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n", {kPemCertificate})
            .find("closes a CERTIFICATE block") != std::string::npos);
  CHECK(check_pem("-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END EC PRIVATE KEY-----\n",
                  {kPemEcKey}).find("encrypted") != std::string::npos);
  CHECK(check_pem(kCert + "trailing words\n", {kPemCertificate}).find("line 5 of the value") == 0);
}

TEST_CASE("a client file may carry its credentials inline", "[config][profile]") {
  auto r = parse_client(head() + lit("ca_pem", kCert) + lit("cert_pem", kCert) + lit("key_pem", kKey), "/etc/p.toml");
  REQUIRE(r);
  CHECK(r->ca_pem == kCert);
  CHECK(r->cert_pem == kCert);
  CHECK(r->key_pem == kKey);
  CHECK(r->ca.empty());
  CHECK(r->key.empty());
  // Mixed: a CA file, inline certificate and key.
  auto m = parse_client(head() + "ca = \"ca.crt\"\n" + lit("cert_pem", kCert) + lit("key_pem", kKey), "/etc/p.toml");
  REQUIRE(m);
  CHECK(m->ca == "/etc/ca.crt");
  CHECK(m->ca_pem.empty());
  // A basic string with \n escapes is the same text.
  auto b = parse_client(head() + "ca = \"ca.crt\"\ncert = \"c.crt\"\nkey_pem = \"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n\"\n",
                        "p.toml");
  REQUIRE(b);
  CHECK(b->key_pem == "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
}

TEST_CASE("inline credentials: errors name the file, line and key", "[config][profile]") {
  // Both forms of one credential.
  CHECK(error_of(head() + "ca = \"ca.crt\"\n" + lit("ca_pem", kCert) + lit("cert_pem", kCert) + lit("key_pem", kKey)) ==
        "p.toml:4:10: ca_pem: give either ca (a file) or ca_pem (inline PEM), not both");
  // Neither.
  CHECK(error_of(head() + lit("ca_pem", kCert) + lit("cert_pem", kCert)) ==
        "p.toml:1:1: key: required key is missing (or key_pem with inline PEM)");
  // A broken block: the key's line, the line inside the value.
  std::string broken = kCert;
  broken.replace(broken.find("AAAA"), 4, "AA#A");
  CHECK(error_of(head() + lit("ca_pem", kCert) + lit("cert_pem", broken) + lit("key_pem", kKey)) ==
        "p.toml:9:12: cert_pem: line 3 of the value: a character that is not base64 in the CERTIFICATE block");
  // A key where a certificate belongs.
  CHECK(error_of(head() + lit("ca_pem", kKey) + lit("cert_pem", kCert) + lit("key_pem", kKey)).find(
            "p.toml:3:10: ca_pem: line 1 of the value: a EC PRIVATE KEY block where CERTIFICATE is expected") == 0);
  CHECK(error_of(head() + lit("ca_pem", kCert) + lit("cert_pem", kCert) + "key_pem = 7\n").find("key_pem") !=
        std::string::npos);
  // The server's file has no inline form.
  CHECK(!parse_server("listen = [\"0.0.0.0:4433\"]\nca = \"a\"\ncert = \"b\"\nkey = \"c\"\nca_pem = \"x\"\n"
                      "[tunnel]\nipv4_pool = \"10.99.0.0/24\"\n", "s.toml"));
}

TEST_CASE("profile_toml writes a profile the parser reads back", "[config][profile][emit]") {
  Profile p{"vpn.example.com:443", "vpn.example.com", kCert, kCert, kKey};
  std::string text = profile_toml(p, "profile for 'alice'");
  auto r = parse_client(text, "alice.toml");
  REQUIRE(r);
  REQUIRE(r->servers.size() == 1);
  CHECK(r->servers[0] == ServerAddress{"vpn.example.com", 443});
  CHECK(r->server_name == "vpn.example.com");
  CHECK(r->ca_pem == kCert);
  CHECK(r->cert_pem == kCert);
  CHECK(r->key_pem == kKey);
  CHECK(text.find("# profile for 'alice'\n") == 0);
  // The effective config shows the public parts and never the key.
  std::string eff = to_toml(*r);
  CHECK(eff.find("ca_pem = '''\n" + kCert + "'''") != std::string::npos);
  CHECK(eff.find("MHcCAQEEIA==") == std::string::npos);
  CHECK(eff.find("# key_pem: inline in alice.toml (not shown)") != std::string::npos);
}
