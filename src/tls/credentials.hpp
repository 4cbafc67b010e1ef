// Parsed X.509 credentials for DTLS: the CA chain that peers must chain to, our own certificate
// chain and its private key. Immutable after load; shared (shared_ptr) by every DtlsConfig and
// session built on it, because mbedTLS keeps raw pointers into these structures.
#pragma once
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace ptun::tls {

class Credentials {
 public:
  // Reads PEM or DER files. Errors (Errc::invalid_argument, or Errc::io for unreadable files) name
  // the file and mbedTLS's reason. The own key must be an ECDSA P-256 key matching the first
  // certificate of cert_path (our cipher suites are ECDHE-ECDSA, our curve list is P-256/X25519).
  // File permissions are not checked here.
  static Result<std::shared_ptr<Credentials>> load(const std::string& ca_path,
                                                    const std::string& cert_path,
                                                    const std::string& key_path);
  // One credential: a file, or PEM text held in memory (a client profile's ca_pem/cert_pem/
  // key_pem). `origin` names where the text came from in messages ("client.toml: key_pem").
  struct Source {
    std::string path;            // used when pem is empty
    std::string pem;
    std::string origin;
  };
  // The same checks for any mix of files and inline text; messages name the file or the origin.
  static Result<std::shared_ptr<Credentials>> load(const Source& ca, const Source& cert, const Source& key);
  // Same checks, from in-memory PEM (or DER) text. Used by tests.
  static Result<std::shared_ptr<Credentials>> from_pem(std::string_view ca, std::string_view cert,
                                                        std::string_view key);
  ~Credentials();
  Credentials(const Credentials&) = delete;
  Credentials& operator=(const Credentials&) = delete;

  // Subject CN of our own (leaf) certificate.
  std::string own_common_name() const;

  // Every certificate we hold, for expiry monitoring: our own chain ("cert"), then the CAs ("ca").
  struct Expiry {
    std::string kind;     // "cert" or "ca"
    std::string subject;  // subject CN ("" if none)
    std::string serial;   // hex, as `ptun pki list` prints it
    int64_t not_after;    // seconds since the epoch
  };
  std::vector<Expiry> expiries() const;

  // Raw access for DtlsConfig. The pointers live as long as this object.
  mbedtls_x509_crt* ca() { return &ca_; }
  mbedtls_x509_crt* cert() { return &cert_; }
  mbedtls_pk_context* key() { return &key_; }

 private:
  Credentials();
  Result<void> check() const;

  mbedtls_x509_crt ca_;
  mbedtls_x509_crt cert_;
  mbedtls_pk_context key_;
};

}  // namespace ptun::tls
