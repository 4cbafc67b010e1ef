#include "cert_factory.hpp"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include <catch2/catch.hpp>
#include <stdexcept>

#include "common/rng.hpp"

namespace ptun::tls::testing {
namespace {

int rng_cb(void* p, unsigned char* out, size_t n) {
  static_cast<Rng*>(p)->fill(out, n);
  return 0;
}

void check(int ret, const char* what) {
  if (ret < 0) throw std::runtime_error(std::string(what) + " failed: " + std::to_string(ret));
}

}  // namespace

struct CertFactory::Impl {
  SeededRng rng;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_pk_context ca_key;
  std::string ca_name;
  uint64_t serial = 1;

  explicit Impl(uint64_t seed) : rng(seed) {
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_pk_init(&ca_key);
    check(mbedtls_ctr_drbg_seed(&drbg, rng_cb, &rng, nullptr, 0), "drbg seed");
  }
  ~Impl() {
    mbedtls_pk_free(&ca_key);
    mbedtls_ctr_drbg_free(&drbg);
  }

  void gen_key(mbedtls_pk_context* pk) {
    check(mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), "pk setup");
    check(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random, &drbg),
          "ecp gen key");
  }

  std::string key_pem(mbedtls_pk_context* pk) {
    unsigned char buf[1024];
    check(mbedtls_pk_write_key_pem(pk, buf, sizeof buf), "write key");
    return reinterpret_cast<char*>(buf);
  }

  // Signs `subject_key` as "CN=<cn>" with the CA key (self-signed when subject_key == &ca_key).
  std::string sign(mbedtls_pk_context* subject_key, const std::string& cn, bool is_ca,
                   const char* not_before, const char* not_after) {
    mbedtls_x509write_cert crt;
    mbedtls_x509write_crt_init(&crt);
    std::string subject = "CN=" + cn + ",O=ptun test";
    const uint64_t sn = serial++;
    unsigned char serial_be[8];
    for (int i = 0; i < 8; ++i) serial_be[i] = uint8_t(sn >> (56 - 8 * i));
    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    check(mbedtls_x509write_crt_set_serial_raw(&crt, serial_be, sizeof serial_be), "set serial");
    check(mbedtls_x509write_crt_set_validity(&crt, not_before, not_after), "validity");
    check(mbedtls_x509write_crt_set_issuer_name(&crt, ca_name.c_str()), "issuer");
    check(mbedtls_x509write_crt_set_subject_name(&crt, subject.c_str()), "subject");
    mbedtls_x509write_crt_set_subject_key(&crt, subject_key);
    mbedtls_x509write_crt_set_issuer_key(&crt, &ca_key);
    check(mbedtls_x509write_crt_set_basic_constraints(&crt, is_ca ? 1 : 0, is_ca ? 0 : -1), "bc");
    check(mbedtls_x509write_crt_set_key_usage(
              &crt, is_ca ? (MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN)
                          : MBEDTLS_X509_KU_DIGITAL_SIGNATURE),
          "key usage");
    unsigned char buf[4096];
    check(mbedtls_x509write_crt_pem(&crt, buf, sizeof buf, mbedtls_ctr_drbg_random, &drbg), "write crt");
    mbedtls_x509write_crt_free(&crt);
    return reinterpret_cast<char*>(buf);
  }
};

CertFactory::CertFactory(const std::string& ca_cn, uint64_t seed) : impl_(new Impl(seed)) {
  impl_->ca_name = "CN=" + ca_cn + ",O=ptun test";
  impl_->gen_key(&impl_->ca_key);
  ca_.key_pem = impl_->key_pem(&impl_->ca_key);
  ca_.cert_pem = impl_->sign(&impl_->ca_key, ca_cn, true, "20200101000000", "20491231235959");
}

CertFactory::~CertFactory() = default;

Issued CertFactory::issue(const std::string& cn, const char* not_before, const char* not_after) {
  mbedtls_pk_context key;
  mbedtls_pk_init(&key);
  impl_->gen_key(&key);
  Issued out{impl_->sign(&key, cn, false, not_before, not_after), impl_->key_pem(&key)};
  mbedtls_pk_free(&key);
  return out;
}

std::shared_ptr<Credentials> CertFactory::creds(const Issued& leaf) const {
  auto c = Credentials::from_pem(ca_.cert_pem, leaf.cert_pem, leaf.key_pem);
  if (!c) FAIL("credentials: " << c.error().message);
  return *c;
}

}  // namespace ptun::tls::testing
