#include <mbedtls/cipher.h>

#include "tls/record_aead.hpp"

namespace ptun::tls {

MbedAead::MbedAead() {
  mbedtls_gcm_init(&gcm_);
  mbedtls_chachapoly_init(&chacha_);
}

MbedAead::~MbedAead() {
  mbedtls_gcm_free(&gcm_);   // both zeroize their key schedules
  mbedtls_chachapoly_free(&chacha_);
}

bool MbedAead::set_key(RecordAead aead, std::span<const uint8_t> key) {
  aead_ = aead;
  if (aead == RecordAead::aes_128_gcm)
    return key.size() == 16 && mbedtls_gcm_setkey(&gcm_, MBEDTLS_CIPHER_ID_AES, key.data(), 128) == 0;
  return key.size() == 32 && mbedtls_chachapoly_setkey(&chacha_, key.data()) == 0;
}

void MbedAead::seal(const uint8_t nonce[kRecordNonceLen], std::span<const uint8_t> aad, uint8_t* data, size_t len,
                    uint8_t tag[kRecordTagLen]) {
  // Both fail only for bad arguments: lengths are in range, the context is keyed.
  if (aead_ == RecordAead::aes_128_gcm)
    (void)mbedtls_gcm_crypt_and_tag(&gcm_, MBEDTLS_GCM_ENCRYPT, len, nonce, kRecordNonceLen, aad.data(), aad.size(),
                                    data, data, kRecordTagLen, tag);
  else
    (void)mbedtls_chachapoly_encrypt_and_tag(&chacha_, len, nonce, aad.data(), aad.size(), data, data, tag);
}

bool MbedAead::open(const uint8_t nonce[kRecordNonceLen], std::span<const uint8_t> aad, uint8_t* data, size_t len,
                    const uint8_t tag[kRecordTagLen]) {
  if (aead_ == RecordAead::aes_128_gcm)
    return mbedtls_gcm_auth_decrypt(&gcm_, len, nonce, kRecordNonceLen, aad.data(), aad.size(), tag, kRecordTagLen,
                                    data, data) == 0;
  return mbedtls_chachapoly_auth_decrypt(&chacha_, len, nonce, aad.data(), aad.size(), tag, data, data) == 0;
}

}  // namespace ptun::tls
