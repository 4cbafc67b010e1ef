#include "tls/credentials.hpp"

#include <mbedtls/ecp.h>
#include <mbedtls/platform_util.h>

#include "tls/mbedtls_util.hpp"
#include "tls/pki.hpp"

namespace ptun::tls {
namespace {

Error parse_error(const std::string& what, int ret) {
  Errc code = (ret == MBEDTLS_ERR_PK_FILE_IO_ERROR || ret == MBEDTLS_ERR_X509_FILE_IO_ERROR)
                  ? Errc::io
                  : Errc::invalid_argument;
  return Error(code, what + ": " + detail::mbedtls_error_text(ret));
}

// mbedtls_x509_crt_parse wants PEM NUL-terminated with the NUL counted, DER without.
size_t parse_len(const std::string& s) {
  return s.find("-----BEGIN") != std::string::npos ? s.size() + 1 : s.size();
}

// x509_crt_parse returns >0 when some certificates of a chain failed: refuse partial chains.
Result<void> parse_chain(mbedtls_x509_crt* crt, const std::string& text, const char* what) {
  int ret = mbedtls_x509_crt_parse(crt, reinterpret_cast<const unsigned char*>(text.c_str()),
                                   parse_len(text));
  if (ret < 0) return parse_error(what, ret);
  if (ret > 0) return Error(Errc::invalid_argument, std::string(what) + ": " + std::to_string(ret) +
                                                        " certificate(s) could not be parsed");
  return ok();
}

}  // namespace

Credentials::Credentials() {
  mbedtls_x509_crt_init(&ca_);
  mbedtls_x509_crt_init(&cert_);
  mbedtls_pk_init(&key_);
}

Credentials::~Credentials() {
  mbedtls_x509_crt_free(&ca_);
  mbedtls_x509_crt_free(&cert_);
  mbedtls_pk_free(&key_);  // zeroizes the key material
}

Result<std::shared_ptr<Credentials>> Credentials::load(const std::string& ca_path,
                                                       const std::string& cert_path,
                                                       const std::string& key_path) {
  return load(Source{ca_path, "", ""}, Source{cert_path, "", ""}, Source{key_path, "", ""});
}

Result<std::shared_ptr<Credentials>> Credentials::load(const Source& ca, const Source& cert,
                                                       const Source& key) {
  std::shared_ptr<Credentials> c(new Credentials());
  auto chain = [](mbedtls_x509_crt* crt, const Source& s, const char* what) -> Result<void> {
    if (!s.pem.empty()) return parse_chain(crt, s.pem, (std::string(what) + " (" + s.origin + ")").c_str());
    const std::string where = std::string(what) + " file " + s.path;
    int ret = mbedtls_x509_crt_parse_file(crt, s.path.c_str());
    if (ret < 0) return parse_error(where, ret);
    if (ret > 0) return Error(Errc::invalid_argument, where + ": some certificates could not be parsed");
    return ok();
  };
  if (auto r = chain(&c->ca_, ca, "CA"); !r) return r.error();
  if (auto r = chain(&c->cert_, cert, "certificate"); !r) return r.error();
  SystemRng rng;  // mbedTLS 3 blinds the private-key operations of parsing and pair checks
  if (key.pem.empty()) {
    int ret = mbedtls_pk_parse_keyfile(&c->key_, key.path.c_str(), nullptr, detail::rng_fill, &rng);
    if (ret != 0) return parse_error("key file " + key.path, ret);
  } else {
    std::string key_text = key.pem;
    int ret = mbedtls_pk_parse_key(&c->key_, reinterpret_cast<const unsigned char*>(key_text.c_str()),
                                   parse_len(key_text), nullptr, 0, detail::rng_fill, &rng);
    mbedtls_platform_zeroize(key_text.data(), key_text.size());
    if (ret != 0) return parse_error("key (" + key.origin + ")", ret);
  }
  if (auto r = c->check(); !r) return r.error();
  return c;
}

Result<std::shared_ptr<Credentials>> Credentials::from_pem(std::string_view ca, std::string_view cert,
                                                           std::string_view key) {
  std::shared_ptr<Credentials> c(new Credentials());
  if (auto r = parse_chain(&c->ca_, std::string(ca), "CA"); !r) return r.error();
  if (auto r = parse_chain(&c->cert_, std::string(cert), "certificate"); !r) return r.error();
  std::string key_text(key);
  SystemRng rng;
  int ret = mbedtls_pk_parse_key(&c->key_, reinterpret_cast<const unsigned char*>(key_text.c_str()),
                                 parse_len(key_text), nullptr, 0, detail::rng_fill, &rng);
  mbedtls_platform_zeroize(key_text.data(), key_text.size());
  if (ret != 0) return parse_error("key", ret);
  if (auto r = c->check(); !r) return r.error();
  return c;
}

Result<void> Credentials::check() const {
  if (ca_.raw.p == nullptr) return Error(Errc::invalid_argument, "CA: no certificate");
  if (cert_.raw.p == nullptr) return Error(Errc::invalid_argument, "certificate: no certificate");
  if (mbedtls_pk_get_type(&key_) != MBEDTLS_PK_ECKEY ||
      mbedtls_ecp_keypair_get_group_id(mbedtls_pk_ec(key_)) != MBEDTLS_ECP_DP_SECP256R1)
    return Error(Errc::invalid_argument, "key: must be an ECDSA P-256 key (cipher suites are ECDHE-ECDSA)");
  SystemRng rng;
  int ret = mbedtls_pk_check_pair(&cert_.pk, &key_, detail::rng_fill, &rng);
  if (ret != 0) return Error(Errc::invalid_argument, "key does not match the certificate");
  return ok();
}

std::string Credentials::own_common_name() const { return detail::common_name_of(&cert_); }

std::vector<Credentials::Expiry> Credentials::expiries() const {
  std::vector<Expiry> out;
  for (auto [chain, kind] : {std::pair{&cert_, "cert"}, std::pair{&ca_, "ca"}})
    for (const mbedtls_x509_crt* c = chain; c != nullptr && c->raw.len != 0; c = c->next)
      out.push_back({kind, detail::common_name_of(c), pki::serial_hex(c->serial.p, c->serial.len),
                     detail::x509_time_to_unix(c->valid_to)});
  return out;
}

}  // namespace ptun::tls
