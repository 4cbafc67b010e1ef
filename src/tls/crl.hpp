// A certificate revocation list loaded for the DTLS server (config key `crl`). mbedTLS enforces
// it during the handshake (it is the ca_crl of mbedtls_ssl_conf_ca_chain); revoked() lets the
// server find live sessions whose certificate a newer CRL revokes.
#pragma once
#include <mbedtls/x509_crl.h>

#include <memory>
#include <string>

#include "common/result.hpp"
#include "tls/credentials.hpp"

namespace ptun::tls {

class Crl {
 public:
  // Reads a PEM or DER CRL and checks it the way the handshake will use it: our own certificate
  // is verified against the CA and this CRL, and a CRL that is not signed by the CA, has expired
  // (nextUpdate past) or is not valid yet is refused here, because mbedTLS would otherwise refuse
  // every peer with it. Errors: io (unreadable), invalid_argument (unparsable, untrusted, expired,
  // not yet valid; the message says which). Our own certificate being revoked is only warned.
  static Result<std::shared_ptr<Crl>> load(const std::string& path, Credentials& creds);
  ~Crl();
  Crl(const Crl&) = delete;
  Crl& operator=(const Crl&) = delete;

  // Whether a certificate with this serial (INTEGER content octets) is on the list.
  bool revoked(const unsigned char* serial, size_t len) const;
  size_t size() const { return entries_; }
  mbedtls_x509_crl* raw() { return &crl_; }

 private:
  Crl();
  mbedtls_x509_crl crl_;
  size_t entries_ = 0;
};

}  // namespace ptun::tls
