// Certificates shared by the tls tests, generated once per process (key generation and signing
// cost ~1 ms each): one CA with server/client leaves, a second CA, and expired leaves.
#pragma once
#include "cert_factory.hpp"
#include "tls/dtls_config.hpp"

namespace ptun::tls::testing {

struct TestPki {
  CertFactory ca{"ptun test CA", 1};
  CertFactory other_ca{"some other CA", 2};
  Issued server = ca.issue("vpn.example.org");
  Issued client = ca.issue("alice");
  Issued client2 = ca.issue("bob");
  Issued rogue_client = other_ca.issue("mallory");
  Issued rogue_server = other_ca.issue("vpn.example.org");
  Issued expired_server = ca.issue("vpn.example.org", "20100101000000", "20110101000000");
  Issued expired_client = ca.issue("alice", "20100101000000", "20110101000000");
  Issued future_client = ca.issue("alice", "20450101000000", "20490101000000");

  static TestPki& get() {
    static TestPki pki;
    return pki;
  }
  // Our identity `leaf`, trusting the main CA.
  std::shared_ptr<Credentials> creds(const Issued& leaf) { return ca.creds(leaf); }
};

// Short handshake timers keep the fake-clock tests readable; values as in production otherwise.
inline DtlsOptions opts(SuiteOrder order = SuiteOrder::automatic) {
  DtlsOptions o;
  o.suite_order = order;
  return o;
}

}  // namespace ptun::tls::testing
