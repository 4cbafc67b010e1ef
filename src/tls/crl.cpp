// Loading and checking a CRL (crl.hpp).
#include "tls/crl.hpp"

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include <cstring>

#include "common/log.hpp"
#include "tls/mbedtls_util.hpp"

namespace ptun::tls {

Crl::Crl() { mbedtls_x509_crl_init(&crl_); }
Crl::~Crl() { mbedtls_x509_crl_free(&crl_); }

Result<std::shared_ptr<Crl>> Crl::load(const std::string& path, Credentials& creds) {
  std::shared_ptr<Crl> c(new Crl());
  int ret = mbedtls_x509_crl_parse_file(&c->crl_, path.c_str());
  if (ret == MBEDTLS_ERR_PK_FILE_IO_ERROR) return Error(Errc::io, "cannot read CRL " + path);
  if (ret != 0) {
    return Error(Errc::invalid_argument, "CRL " + path + ": " + detail::mbedtls_error_text(ret));
  }
  for (const mbedtls_x509_crl_entry* e = &c->crl_.entry; e != nullptr; e = e->next) {
    if (e->serial.len > 0) ++c->entries_;
  }
  uint32_t flags = 0;
  mbedtls_x509_crt_verify(creds.cert(), creds.ca(), &c->crl_, nullptr, &flags, nullptr, nullptr);
  if (flags & MBEDTLS_X509_BADCRL_NOT_TRUSTED) {
    return Error(Errc::invalid_argument, "CRL " + path + " is not signed by the CA");
  }
  if (flags & MBEDTLS_X509_BADCRL_EXPIRED) {
    return Error(Errc::invalid_argument,
                 "CRL " + path + " has expired (re-sign it: ptun pki crl DIR)");
  }
  if (flags & MBEDTLS_X509_BADCRL_FUTURE) {
    return Error(Errc::invalid_argument, "CRL " + path + " is not valid yet (clock?)");
  }
  if (flags & MBEDTLS_X509_BADCERT_REVOKED) {
    LOG_WARN("tls: CRL %s revokes this server's own certificate", path.c_str());
  }
  return c;
}

bool Crl::revoked(const unsigned char* serial, size_t len) const {
  for (const mbedtls_x509_crl_entry* e = &crl_.entry; e != nullptr; e = e->next) {
    if (e->serial.len == len && len > 0 && std::memcmp(e->serial.p, serial, len) == 0) return true;
  }
  return false;
}

}  // namespace ptun::tls
