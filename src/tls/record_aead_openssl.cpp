// OpenSSL's EVP AEAD interface, used in place: EVP_CipherUpdate accepts out == in. Compiled
// only where the build found libcrypto (src/tls/CMakeLists.txt).
#include "tls/record_aead.hpp"

#ifdef PTUN_HAVE_OPENSSL_AEAD
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <climits>

namespace ptun::tls {

namespace {
// ptun asks libcrypto for two AEADs and nothing else, so before its first use: no openssl.cnf,
// no error strings, and no legacy cipher/digest tables. OpenSSL 3 otherwise fills its name map
// from every EVP_xxx() cipher and digest on the first fetch, which pages in code from all over
// the library: 0.6 MiB more resident (a test program sealing AES-128-GCM: libcrypto 3.3 MiB
// resident without these flags, 2.7 MiB with). Fetching by name still works: the provider
// registers the names of what it offers. Repeated calls are no-ops (run-once inside OpenSSL).
bool init_libcrypto_lean() {
  return OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS |
                                 OPENSSL_INIT_NO_ADD_ALL_CIPHERS | OPENSSL_INIT_NO_ADD_ALL_DIGESTS,
                             nullptr) == 1;
}
}  // namespace

OpensslAead::OpensslAead() : ctx_(init_libcrypto_lean() ? EVP_CIPHER_CTX_new() : nullptr) {}

OpensslAead::~OpensslAead() { EVP_CIPHER_CTX_free(ctx_); }  // cleans (zeroizes) the key schedule

bool OpensslAead::set_key(RecordAead aead, std::span<const uint8_t> key) {
  if (!ctx_) return false;
  const EVP_CIPHER* c = aead == RecordAead::aes_128_gcm ? EVP_aes_128_gcm() : EVP_chacha20_poly1305();
  if (int(key.size()) != EVP_CIPHER_get_key_length(c)) return false;
  // Both ciphers default to the 12-byte nonce records use.
  return EVP_CipherInit_ex(ctx_, c, nullptr, key.data(), nullptr, 1) == 1;
}

void OpensslAead::seal(const uint8_t nonce[kRecordNonceLen], std::span<const uint8_t> aad, uint8_t* data,
                       size_t len, uint8_t tag[kRecordTagLen]) {
  int n = 0;
  // Records are at most 2^14 + a little: len fits an int. Failures here mean a broken library;
  // the tag is then left as is and the peer drops the record (counted as bad_mac there).
  if (EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, nonce, 1) != 1) return;
  if (EVP_CipherUpdate(ctx_, nullptr, &n, aad.data(), int(aad.size())) != 1) return;
  if (len != 0 && EVP_CipherUpdate(ctx_, data, &n, data, int(len)) != 1) return;
  if (EVP_CipherFinal_ex(ctx_, data + len, &n) != 1) return;
  (void)EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, int(kRecordTagLen), tag);
}

bool OpensslAead::open(const uint8_t nonce[kRecordNonceLen], std::span<const uint8_t> aad, uint8_t* data,
                       size_t len, const uint8_t tag[kRecordTagLen]) {
  if (len > size_t(INT_MAX)) return false;
  int n = 0;
  if (EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, nonce, 0) != 1) return false;
  if (EVP_CipherUpdate(ctx_, nullptr, &n, aad.data(), int(aad.size())) != 1) return false;
  if (len != 0 && EVP_CipherUpdate(ctx_, data, &n, data, int(len)) != 1) return false;
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, int(kRecordTagLen), const_cast<uint8_t*>(tag)) != 1)
    return false;
  return EVP_CipherFinal_ex(ctx_, data + len, &n) == 1;
}

}  // namespace ptun::tls

#endif  // PTUN_HAVE_OPENSSL_AEAD
