// What one record costs after the tunnel sat idle: seal+open of a record (AES-128-GCM unless
// --chacha) right after sleeping IDLE_MS, through each record AEAD the build has, against the
// same with no pause (warm caches). Wall time, p50 and p90 of SAMPLES pairs: an interactive packet
// on an idle tunnel meets the cold figure four times per round trip (two seals, two opens).
// A benchmark, not a test: build/bench/record/ptun-idle-aead-bench [IDLE_MS] [SAMPLES] [--chacha]
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "tls/record_aead.hpp"

using namespace ptun::tls;

namespace {

double now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
}

template <typename Aead>
void measure(const char* name, RecordAead aead, size_t len, int idle_ms, int samples) {
  uint8_t key[32];
  for (size_t i = 0; i < sizeof key; ++i) key[i] = uint8_t(i * 7 + 1);
  const size_t key_len = aead == RecordAead::aes_128_gcm ? 16 : 32;
  Aead sealer, opener;
  if (!sealer.set_key(aead, {key, key_len}) || !opener.set_key(aead, {key, key_len})) {
    std::printf("%-9s refused the key\n", name);
    return;
  }
  std::vector<uint8_t> data(len, 0x5a);
  uint8_t nonce[kRecordNonceLen] = {}, aad[13] = {}, tag[kRecordTagLen];
  std::vector<double> t;
  for (int i = 0; i < samples; ++i) {
    if (idle_ms > 0) usleep(useconds_t(idle_ms) * 1000);
    std::memcpy(nonce + 4, &i, sizeof i);
    const double t0 = now_us();
    sealer.seal(nonce, aad, data.data(), len, tag);
    const bool ok = opener.open(nonce, aad, data.data(), len, tag);
    t.push_back(now_us() - t0);
    if (!ok) {
      std::printf("%-9s: a record did not open\n", name);
      std::exit(1);
    }
  }
  std::sort(t.begin(), t.end());
  std::printf("%-9s %5zu %7d %9.2f %9.2f\n", name, len, idle_ms, t[t.size() / 2], t[t.size() * 9 / 10]);
}

}  // namespace

int main(int argc, char** argv) {
  const int idle_ms = argc > 1 ? std::atoi(argv[1]) : 10;
  const int samples = argc > 2 ? std::max(10, std::atoi(argv[2])) : 200;
  const bool chacha = argc > 3 && std::strcmp(argv[3], "--chacha") == 0;
  if (idle_ms < 0 || idle_ms > 1000) {
    std::fprintf(stderr, "IDLE_MS must be 0..1000\n");
    return 2;
  }
  const RecordAead aead = chacha ? RecordAead::chacha20_poly1305 : RecordAead::aes_128_gcm;
  std::printf("%s seal+open, wall microseconds, %d samples each; build's record AEAD: %s\n",
              chacha ? "ChaCha20-Poly1305" : "AES-128-GCM", samples, kRecordAeadBackend);
  std::printf("%-9s %5s %7s %9s %9s\n", "aead", "bytes", "idle_ms", "p50_us", "p90_us");
  for (int idle : {0, idle_ms}) {
    for (size_t len : {size_t(84), size_t(200), size_t(512), size_t(1400)}) {
      measure<MbedAead>("mbedtls", aead, len, idle, samples);
#ifdef PTUN_HAVE_OPENSSL_AEAD
      measure<OpensslAead>("openssl", aead, len, idle, samples);
      measure<HybridAead>("hybrid", aead, len, idle, samples);
#endif
#ifdef PTUN_HAVE_SODIUM_AEAD
      measure<SodiumAead>("libsodium", aead, len, idle, samples);
#endif
    }
  }
  return 0;
}
