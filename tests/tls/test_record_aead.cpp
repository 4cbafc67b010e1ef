// The record AEAD backends (src/tls/record_aead.hpp): RFC 8439's ChaCha20-Poly1305 vector through
// each backend the build has, and OpenSSL or libsodium (where built) sealing the same records as
// mbedTLS byte for byte and opening each other's, for both AEADs and every length class.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tls/record_aead.hpp"

using namespace ptun::tls;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes hex(const std::string& h) {
  Bytes b;
  for (size_t i = 0; i + 1 < h.size(); i += 2) b.push_back(uint8_t(std::stoi(h.substr(i, 2), nullptr, 16)));
  return b;
}

[[maybe_unused]] Bytes random_bytes(std::mt19937& rng, size_t n) {  // used with OpenSSL or libsodium
  Bytes b(n);
  for (auto& x : b) x = uint8_t(rng());
  return b;
}

template <typename Aead>
void rfc8439_vector() {
  Bytes key(32);
  for (size_t i = 0; i < 32; ++i) key[i] = uint8_t(0x80 + i);
  const Bytes nonce = hex("070000004041424344454647"), aad = hex("50515253c0c1c2c3c4c5c6c7");
  const std::string text =
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
      "sunscreen would be it.";
  const Bytes want = hex(
      "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
      "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
      "3ff4def08e4b7a9de576d26586cec64b6116");
  const Bytes want_tag = hex("1ae10b594f09e26a7e902ecbd0600691");
  Aead enc, dec;
  REQUIRE(enc.set_key(RecordAead::chacha20_poly1305, key));
  REQUIRE(dec.set_key(RecordAead::chacha20_poly1305, key));
  Bytes data(text.begin(), text.end());
  uint8_t tag[kRecordTagLen];
  enc.seal(nonce.data(), aad, data.data(), data.size(), tag);
  CHECK(data == want);
  CHECK(Bytes(tag, tag + kRecordTagLen) == want_tag);
  REQUIRE(dec.open(nonce.data(), aad, data.data(), data.size(), tag));
  CHECK(std::string(data.begin(), data.end()) == text);
  // One flipped bit anywhere (ciphertext, tag, AAD) and the record is refused.
  enc.seal(nonce.data(), aad, data.data(), data.size(), tag);
  data[7] ^= 0x10;
  CHECK_FALSE(dec.open(nonce.data(), aad, data.data(), data.size(), tag));
}

// `Other` and mbedTLS seal the same records byte for byte and open each other's, for both AEADs
// and every length class; a wrong tag is refused by both.
template <typename Other>
[[maybe_unused]] void agrees_with_mbedtls() {
  std::mt19937 rng(8439);
  for (RecordAead a : {RecordAead::aes_128_gcm, RecordAead::chacha20_poly1305}) {
    const size_t key_len = a == RecordAead::aes_128_gcm ? 16 : 32;
    for (size_t len : {size_t(0), size_t(1), size_t(15), size_t(16), size_t(17), size_t(63), size_t(64),
                       size_t(65), size_t(255), size_t(256), size_t(257), size_t(511), size_t(1400),
                       size_t(16384)}) {
      CAPTURE(int(a), len);
      const Bytes key = random_bytes(rng, key_len), nonce = random_bytes(rng, kRecordNonceLen),
                  aad = random_bytes(rng, 13), plain = random_bytes(rng, len);
      MbedAead m;
      Other o;
      REQUIRE(m.set_key(a, key));
      REQUIRE(o.set_key(a, key));
      Bytes by_m = plain, by_o = plain;
      uint8_t tag_m[kRecordTagLen], tag_o[kRecordTagLen];
      m.seal(nonce.data(), aad, by_m.data(), len, tag_m);
      o.seal(nonce.data(), aad, by_o.data(), len, tag_o);
      CHECK(by_m == by_o);
      CHECK(std::memcmp(tag_m, tag_o, kRecordTagLen) == 0);
      // Each opens the other's (the same context also seals and opens alternately).
      REQUIRE(o.open(nonce.data(), aad, by_m.data(), len, tag_m));
      CHECK(by_m == plain);
      REQUIRE(m.open(nonce.data(), aad, by_o.data(), len, tag_o));
      CHECK(by_o == plain);
      // A wrong tag is refused by both, and so is a changed AAD byte.
      o.seal(nonce.data(), aad, by_o.data(), len, tag_o);
      tag_o[0] ^= 1;
      Bytes copy = by_o;
      CHECK_FALSE(o.open(nonce.data(), aad, by_o.data(), len, tag_o));
      CHECK_FALSE(m.open(nonce.data(), aad, copy.data(), len, tag_o));
      Bytes sealed = plain, aad2 = aad;
      o.seal(nonce.data(), aad, sealed.data(), len, tag_o);
      aad2[12] ^= 0x80;
      CHECK_FALSE(o.open(nonce.data(), aad2, sealed.data(), len, tag_o));
    }
  }
}

}  // namespace

TEST_CASE("record AEAD: RFC 8439 2.8.2 through mbedTLS", "[tls][aead]") { rfc8439_vector<MbedAead>(); }

TEST_CASE("record AEAD: keys of the wrong length are refused", "[tls][aead]") {
  RecordAeadKey k;
  CHECK_FALSE(k.set_key(RecordAead::aes_128_gcm, Bytes(32)));
  CHECK_FALSE(k.set_key(RecordAead::chacha20_poly1305, Bytes(16)));
  CHECK(k.set_key(RecordAead::aes_128_gcm, Bytes(16)));
}

#ifdef PTUN_HAVE_OPENSSL_AEAD
TEST_CASE("record AEAD: RFC 8439 2.8.2 through OpenSSL", "[tls][aead]") { rfc8439_vector<OpensslAead>(); }

TEST_CASE("record AEAD: OpenSSL and mbedTLS seal alike and open each other's records", "[tls][aead]") {
  agrees_with_mbedtls<OpensslAead>();
}

TEST_CASE("record AEAD: the hybrid key seals as mbedTLS does, on either path", "[tls][aead]") {
  agrees_with_mbedtls<HybridAead>();
}

namespace {
uint64_t fake_now_ns = 0;
uint64_t fake_clock() { return fake_now_ns; }
}  // namespace

TEST_CASE("record AEAD: the hybrid key takes mbedTLS for small records after an idle spell only",
          "[tls][aead]") {
  for (RecordAead a : {RecordAead::aes_128_gcm, RecordAead::chacha20_poly1305}) {
    CAPTURE(int(a));
    std::mt19937 rng(17);
    const Bytes key = random_bytes(rng, a == RecordAead::aes_128_gcm ? 16 : 32);
    const Bytes nonce = random_bytes(rng, kRecordNonceLen), aad = random_bytes(rng, 13);
    HybridAead h, peer;
    MbedAead m;
    REQUIRE(h.set_key(a, key));
    REQUIRE(peer.set_key(a, key));
    REQUIRE(m.set_key(a, key));
    h.set_clock_for_test(fake_clock);
    peer.set_clock_for_test(fake_clock);
    fake_now_ns = 1'000'000'000;
    // Seals `len` bytes with h and checks them against mbedTLS; true if the idle path took it.
    auto seal_checked = [&](size_t len) {
      const uint64_t before = h.idle_path_records();
      Bytes by_h = random_bytes(rng, len), by_m = by_h, plain = by_h;
      uint8_t tag_h[kRecordTagLen], tag_m[kRecordTagLen];
      h.seal(nonce.data(), aad, by_h.data(), len, tag_h);
      m.seal(nonce.data(), aad, by_m.data(), len, tag_m);
      CHECK(by_h == by_m);
      CHECK(std::memcmp(tag_h, tag_m, kRecordTagLen) == 0);
      REQUIRE(peer.open(nonce.data(), aad, by_h.data(), len, tag_h));
      CHECK(by_h == plain);
      return h.idle_path_records() > before;
    };
    CHECK(seal_checked(84));            // first use of the key: idle
    CHECK_FALSE(seal_checked(84));      // right after: OpenSSL
    fake_now_ns += HybridAead::kIdleNs - 1;
    CHECK_FALSE(seal_checked(84));      // still within the idle spell's bound of the last use
    fake_now_ns += HybridAead::kIdleNs;
    CHECK(seal_checked(HybridAead::kSmallMax));
    fake_now_ns += 10 * HybridAead::kIdleNs;
    CHECK_FALSE(seal_checked(HybridAead::kSmallMax + 1));   // large records always go to OpenSSL
    CHECK_FALSE(seal_checked(1400));
    CHECK(h.idle_path_records() == 2);
    // The opening side chose its paths by the same rule: the first open and the one after the
    // 2 ms gap were idle.
    CHECK(peer.idle_path_records() == 2);
    // A tampered record is refused on the idle path too.
    fake_now_ns += 10 * HybridAead::kIdleNs;
    Bytes data = random_bytes(rng, 64);
    uint8_t tag[kRecordTagLen];
    h.seal(nonce.data(), aad, data.data(), data.size(), tag);
    data[3] ^= 1;
    fake_now_ns += 10 * HybridAead::kIdleNs;
    CHECK_FALSE(peer.open(nonce.data(), aad, data.data(), data.size(), tag));
    CHECK(peer.idle_path_records() == 3);
  }
}
#endif

#ifdef PTUN_HAVE_SODIUM_AEAD
TEST_CASE("record AEAD: RFC 8439 2.8.2 through libsodium", "[tls][aead]") { rfc8439_vector<SodiumAead>(); }

TEST_CASE("record AEAD: libsodium and mbedTLS seal alike and open each other's records", "[tls][aead]") {
  agrees_with_mbedtls<SodiumAead>();
}

TEST_CASE("record AEAD: libsodium refuses keys of the wrong length", "[tls][aead]") {
  SodiumAead k;
  CHECK_FALSE(k.set_key(RecordAead::chacha20_poly1305, Bytes(16)));
  CHECK_FALSE(k.set_key(RecordAead::aes_128_gcm, Bytes(32)));
  CHECK(k.set_key(RecordAead::chacha20_poly1305, Bytes(32)));
}
#endif
