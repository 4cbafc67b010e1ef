// Fuzz the DTLS server's first contact with an unknown peer: arbitrary datagrams go to
// CookieGuard::check (the reply must never exceed the input: no amplification) and to fresh
// server DtlsSessions (feed + handshake + retransmission + read). One server config checks cookies
// as in production; a second has cookies switched off so inputs reach mbedTLS's ClientHello
// processing and beyond. Inputs may hold several datagrams separated by "\xff\xfeDG".
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>

#include "common/rng.hpp"
#include "tls/cookie_guard.hpp"
#include "tls/dtls_config.hpp"
#include "tls/dtls_session.hpp"

using namespace ptun;
using namespace ptun::tls;

namespace {

int rng_cb(void* p, unsigned char* out, size_t n) {
  static_cast<Rng*>(p)->fill(out, n);
  return 0;
}

void must(int ret) {
  if (ret < 0) std::abort();
}

// A self-signed ECDSA P-256 certificate acting as its own CA: enough for the server role.
std::shared_ptr<Credentials> self_signed(Rng& rng) {
  mbedtls_pk_context key;
  mbedtls_pk_init(&key);
  must(mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)));
  must(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), rng_cb, &rng));
  mbedtls_x509write_cert crt;
  mbedtls_x509write_crt_init(&crt);
  unsigned char serial[] = {1};   // set_serial_raw takes a non-const buffer
  mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
  must(mbedtls_x509write_crt_set_serial_raw(&crt, serial, sizeof serial));
  must(mbedtls_x509write_crt_set_validity(&crt, "20200101000000", "20491231235959"));
  must(mbedtls_x509write_crt_set_issuer_name(&crt, "CN=fuzz server"));
  must(mbedtls_x509write_crt_set_subject_name(&crt, "CN=fuzz server"));
  mbedtls_x509write_crt_set_subject_key(&crt, &key);
  mbedtls_x509write_crt_set_issuer_key(&crt, &key);
  must(mbedtls_x509write_crt_set_basic_constraints(&crt, 1, 0));
  static unsigned char cert_pem[4096], key_pem[1024];
  must(mbedtls_x509write_crt_pem(&crt, cert_pem, sizeof cert_pem, rng_cb, &rng));
  must(mbedtls_pk_write_key_pem(&key, key_pem, sizeof key_pem));
  mbedtls_x509write_crt_free(&crt);
  mbedtls_pk_free(&key);
  const char* c = reinterpret_cast<const char*>(cert_pem);
  auto creds = Credentials::from_pem(c, c, reinterpret_cast<const char*>(key_pem));
  if (!creds) std::abort();
  return *creds;
}

struct Env {
  SeededRng rng{0xf022};
  std::shared_ptr<DtlsConfig> checked;    // production config: cookies verified
  std::shared_ptr<DtlsConfig> unchecked;  // cookies off: reach ClientHello processing
  CookieGuard* guard = nullptr;

  Env() {
    auto creds = self_signed(rng);
    DtlsOptions o;
    auto a = DtlsConfig::make_server(creds, rng, o);
    auto b = DtlsConfig::make_server(creds, rng, o);
    if (!a || !b) std::abort();
    checked = *a;
    unchecked = *b;
    mbedtls_ssl_conf_dtls_cookies(unchecked->raw(), nullptr, nullptr, nullptr);
    guard = checked->cookie_guard();
  }
};

void discard(void*, std::span<const uint8_t> d) {
  if (d.size() > 16384 + 2048) std::abort();  // a datagram can never be that large
}

constexpr uint8_t kSep[] = {0xff, 0xfe, 'D', 'G'};
const uint8_t kAddr[] = {198, 51, 100, 9, 0x1f, 0x90};

void run_session(const std::shared_ptr<DtlsConfig>& cfg, std::span<const uint8_t> input) {
  DtlsSession s(cfg, discard, nullptr);
  if (!s.set_client_id(kAddr)) std::abort();
  uint64_t now = 0;
  uint8_t buf[2048];
  while (!input.empty()) {
    const uint8_t* end = static_cast<const uint8_t*>(
        memmem(input.data(), input.size(), kSep, sizeof kSep));
    size_t n = end ? size_t(end - input.data()) : input.size();
    s.feed(input.first(n), now);
    s.handshake(now);
    (void)s.read(buf, sizeof buf, now);
    input = input.subspan(end ? n + sizeof kSep : n);
    now += 1500;
    if (s.next_timeout() <= now) s.on_timeout(now);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Env* env = new Env();
  std::span<const uint8_t> input(data, size);

  uint8_t reply[2048];
  size_t reply_len = 12345;
  auto v = env->guard->check(input, kAddr, reply, sizeof reply, &reply_len);
  if (reply_len > size) std::abort();  // amplification
  if (v != CookieGuard::Verdict::no_or_bad_cookie && reply_len != 0) std::abort();

  run_session(env->checked, input);
  run_session(env->unchecked, input);
  return 0;
}
