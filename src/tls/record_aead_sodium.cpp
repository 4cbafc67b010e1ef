// libsodium's IETF ChaCha20-Poly1305 (RFC 8439, the construction of RFC 7905's suites) in place:
// the detached calls accept c == m. AES-128-GCM goes to mbedTLS. Compiled only where the build
// found libsodium's static archive (src/tls/CMakeLists.txt).
#include "tls/record_aead.hpp"

#ifdef PTUN_HAVE_SODIUM_AEAD
#include <sodium.h>

namespace ptun::tls {

// sodium_init() picks the fastest ChaCha20 and Poly1305 code for this CPU; it is thread-safe
// and returns 1 when it already ran.
SodiumAead::SodiumAead() : ready_(sodium_init() >= 0) {}

SodiumAead::~SodiumAead() { sodium_memzero(key_, sizeof key_); }

bool SodiumAead::set_key(RecordAead aead, std::span<const uint8_t> key) {
  aead_ = aead;
  if (aead == RecordAead::aes_128_gcm) return aes_.set_key(aead, key);
  static_assert(sizeof key_ == crypto_aead_chacha20poly1305_ietf_KEYBYTES);
  static_assert(kRecordNonceLen == crypto_aead_chacha20poly1305_ietf_NPUBBYTES);
  static_assert(kRecordTagLen == crypto_aead_chacha20poly1305_ietf_ABYTES);
  if (!ready_ || key.size() != sizeof key_) return false;
  std::copy(key.begin(), key.end(), key_);
  return true;
}

void SodiumAead::seal(const uint8_t nonce[kRecordNonceLen], std::span<const uint8_t> aad, uint8_t* data,
                      size_t len, uint8_t tag[kRecordTagLen]) {
  if (aead_ == RecordAead::aes_128_gcm) return aes_.seal(nonce, aad, data, len, tag);
  uint8_t none = 0;   // libsodium declares the message pointers non-null, even for 0 bytes
  if (!data) data = &none;
  // Fails only for messages over 2^38 bytes: records are at most 2^14.
  (void)crypto_aead_chacha20poly1305_ietf_encrypt_detached(data, tag, nullptr, data, len, aad.data(), aad.size(),
                                                           nullptr, nonce, key_);
}

bool SodiumAead::open(const uint8_t nonce[kRecordNonceLen], std::span<const uint8_t> aad, uint8_t* data, size_t len,
                      const uint8_t tag[kRecordTagLen]) {
  if (aead_ == RecordAead::aes_128_gcm) return aes_.open(nonce, aad, data, len, tag);
  uint8_t none = 0;
  if (!data) data = &none;
  // Verifies the tag before it decrypts; on failure the data is zeroed (the caller drops it).
  return crypto_aead_chacha20poly1305_ietf_decrypt_detached(data, nullptr, data, len, tag, aad.data(), aad.size(),
                                                            nonce, key_) == 0;
}

}  // namespace ptun::tls

#endif  // PTUN_HAVE_SODIUM_AEAD
