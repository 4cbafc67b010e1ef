// One direction's AEAD key for application-data records: AES-128-GCM or ChaCha20-Poly1305 over a
// 12-byte nonce, 13-byte AAD and 16-byte tag, in place. Two implementations of one interface:
//   MbedAead     mbedTLS's primitives: every build (routers, static and cross builds);
//   OpensslAead  OpenSSL's libcrypto EVP (AVX2/AVX-512 ChaCha20, AES-NI+PCLMUL GCM), where the
//                build found it (PTUN_HAVE_OPENSSL_AEAD): on a 2-core x86-64 lab machine it
//                seals 1400-byte records ~10x faster than mbedTLS's portable C (bench/record).
//   SodiumAead   libsodium's ChaCha20-Poly1305 (SSSE3/AVX2 ChaCha20, picked at run time) from
//                its static archive, AES-128-GCM through mbedTLS (libsodium has AES-256 only):
//                the static x86-64 build's records (PTUN_RECORDS_SODIUM), at a few hundred KiB
//                of code where libcrypto would bring megabytes. Compiled wherever the build
//                found libsodium.a (PTUN_HAVE_SODIUM_AEAD), so the native tests check it too.
//   HybridAead   OpensslAead for flowing records, MbedAead for a small record on an idle key
//                (cold caches): the record key of builds with OpenSSL.
// The handshake stays mbedTLS's; only bulk records use this. `RecordAeadKey` is the one a build
// uses; tests compare the others with mbedTLS where they exist.
#pragma once
#include <mbedtls/chachapoly.h>
#include <mbedtls/gcm.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/idle_gate.hpp"

struct evp_cipher_ctx_st;  // OpenSSL's EVP_CIPHER_CTX, kept out of this header

namespace ptun::tls {

enum class RecordAead { aes_128_gcm, chacha20_poly1305 };

inline constexpr size_t kRecordTagLen = 16;
inline constexpr size_t kRecordNonceLen = 12;

class MbedAead {
 public:
  MbedAead();
  ~MbedAead();
  MbedAead(const MbedAead&) = delete;
  MbedAead& operator=(const MbedAead&) = delete;
  // key: 16 bytes for AES-128-GCM, 32 for ChaCha20-Poly1305. False if the cipher refused it.
  bool set_key(RecordAead aead, std::span<const uint8_t> key);
  void seal(const uint8_t nonce[kRecordNonceLen], std::span<const uint8_t> aad, uint8_t* data, size_t len,
            uint8_t tag[kRecordTagLen]);
  // False: the tag did not verify (data is then unspecified: the caller drops the record).
  bool open(const uint8_t nonce[kRecordNonceLen], std::span<const uint8_t> aad, uint8_t* data, size_t len,
            const uint8_t tag[kRecordTagLen]);

 private:
  RecordAead aead_ = RecordAead::chacha20_poly1305;
  mbedtls_gcm_context gcm_;
  mbedtls_chachapoly_context chacha_;
};

#ifdef PTUN_HAVE_OPENSSL_AEAD
class OpensslAead {
 public:
  OpensslAead();
  ~OpensslAead();
  OpensslAead(const OpensslAead&) = delete;
  OpensslAead& operator=(const OpensslAead&) = delete;
  bool set_key(RecordAead aead, std::span<const uint8_t> key);
  void seal(const uint8_t nonce[kRecordNonceLen], std::span<const uint8_t> aad, uint8_t* data, size_t len,
            uint8_t tag[kRecordTagLen]);
  bool open(const uint8_t nonce[kRecordNonceLen], std::span<const uint8_t> aad, uint8_t* data, size_t len,
            const uint8_t tag[kRecordTagLen]);

 private:
  // One context per key: each key is used one way (write key seals, read key opens); the
  // direction is chosen per record with the nonce, the key schedule stays.
  evp_cipher_ctx_st* ctx_ = nullptr;
};
#endif

#ifdef PTUN_HAVE_SODIUM_AEAD
class SodiumAead {
 public:
  SodiumAead();
  ~SodiumAead();   // zeroizes the key
  SodiumAead(const SodiumAead&) = delete;
  SodiumAead& operator=(const SodiumAead&) = delete;
  bool set_key(RecordAead aead, std::span<const uint8_t> key);
  void seal(const uint8_t nonce[kRecordNonceLen], std::span<const uint8_t> aad, uint8_t* data, size_t len,
            uint8_t tag[kRecordTagLen]);
  bool open(const uint8_t nonce[kRecordNonceLen], std::span<const uint8_t> aad, uint8_t* data, size_t len,
            const uint8_t tag[kRecordTagLen]);

 private:
  bool ready_ = false;          // sodium_init() succeeded
  RecordAead aead_ = RecordAead::chacha20_poly1305;
  uint8_t key_[32] = {};        // ChaCha20-Poly1305: libsodium takes the key with every call
  MbedAead aes_;                // AES-128-GCM
};
#endif

#ifdef PTUN_HAVE_OPENSSL_AEAD
// OpenSSL for records that flow, mbedTLS for a small record on a key that sat idle. OpenSSL's
// EVP path (provider dispatch, parameter lookups by name) is the faster one with warm caches, but
// after a few milliseconds of idle it is the slower one: seal+open of an 84-byte AES-128-GCM
// record after 10 ms of sleep took 6.6 us (p90 10.7) through OpenSSL and 2.6 us (3.9) through
// mbedTLS, warm 0.45 and 0.75 (bench/record/idle_aead_bench.cpp). That is what an interactive
// packet (a keystroke, a DNS query, a ping) meets on an idle tunnel, four times per round trip.
// Both seal the same bytes. The coarse clock costs a few ns per record (vDSO, no system call).
class HybridAead {
 public:
  // Records up to this many bytes take the idle path when their key was idle for kIdleNs.
  // Beyond ~700 bytes mbedTLS's GCM is slower even on cold caches.
  static constexpr size_t kSmallMax = 512;
  static constexpr uint64_t kIdleNs = 2'000'000;

  bool set_key(RecordAead aead, std::span<const uint8_t> key) {
    return bulk_.set_key(aead, key) && idle_.set_key(aead, key);
  }
  void seal(const uint8_t nonce[kRecordNonceLen], std::span<const uint8_t> aad, uint8_t* data, size_t len,
            uint8_t tag[kRecordTagLen]) {
    if (takes_idle_path(len)) idle_.seal(nonce, aad, data, len, tag);
    else bulk_.seal(nonce, aad, data, len, tag);
  }
  bool open(const uint8_t nonce[kRecordNonceLen], std::span<const uint8_t> aad, uint8_t* data, size_t len,
            const uint8_t tag[kRecordTagLen]) {
    return takes_idle_path(len) ? idle_.open(nonce, aad, data, len, tag) : bulk_.open(nonce, aad, data, len, tag);
  }
  uint64_t idle_path_records() const { return idle_records_; }
  void set_clock_for_test(IdleGate::Clock c) { gate_.set_clock_for_test(c); }

 private:
  // Notes this use of the key (every record: a flowing key is never idle).
  bool takes_idle_path(size_t len) {
    const bool idle = gate_.touch();
    if (len > kSmallMax || !idle) return false;
    ++idle_records_;
    return true;
  }
  OpensslAead bulk_;
  MbedAead idle_;
  IdleGate gate_{kIdleNs};
  uint64_t idle_records_ = 0;
};
#endif

#if defined(PTUN_HAVE_OPENSSL_AEAD)
using RecordAeadKey = HybridAead;
inline constexpr const char* kRecordAeadBackend = "openssl";
inline constexpr bool kRecordAeadIsOpenssl = true;
#elif defined(PTUN_RECORDS_SODIUM)
using RecordAeadKey = SodiumAead;
inline constexpr const char* kRecordAeadBackend = "libsodium";
inline constexpr bool kRecordAeadIsOpenssl = false;
#else
using RecordAeadKey = MbedAead;
inline constexpr const char* kRecordAeadBackend = "mbedtls";
inline constexpr bool kRecordAeadIsOpenssl = false;
#endif

}  // namespace ptun::tls
