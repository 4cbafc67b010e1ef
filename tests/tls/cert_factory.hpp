// Test-only X.509 factory: ECDSA P-256 CAs and leaf certificates generated in memory with
// mbedTLS's x509write API (no files, no openssl). Deterministic for a given seed, except for the
// ECDSA signature nonces.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "tls/credentials.hpp"

namespace ptun::tls::testing {

struct Issued {
  std::string cert_pem;
  std::string key_pem;
};

class CertFactory {
 public:
  // A self-signed CA "CN=<ca_cn>".
  CertFactory(const std::string& ca_cn, uint64_t seed);
  ~CertFactory();
  CertFactory(const CertFactory&) = delete;
  CertFactory& operator=(const CertFactory&) = delete;

  const std::string& ca_pem() const { return ca_.cert_pem; }
  // A leaf certificate "CN=<cn>" signed by this CA. Validity in mbedTLS's "YYYYMMDDhhmmss" form.
  Issued issue(const std::string& cn, const char* not_before = "20200101000000",
               const char* not_after = "20491231235959");
  // Credentials trusting this CA with `leaf` (issued by any CA) as our identity. FAILs the test on error.
  std::shared_ptr<Credentials> creds(const Issued& leaf) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Issued ca_;
};

}  // namespace ptun::tls::testing
