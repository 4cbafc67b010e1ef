// Fuzz the fast path's in-place record opening (tls/record_protection.hpp) with fixed keys, no
// handshake: byte 0 picks the AEAD (bit 0: 0 AES-128-GCM, 1 ChaCha20-Poly1305), the rest is one
// received datagram. It is classified and, if fast, walked with open_next as DtlsSession does;
// every plaintext must lie inside the datagram and no walk may return more records than bytes.
// Then the same bytes are sealed as a record and opened again: they must come back unchanged.
// Seeds: PTUN_CORPUS_DIR=fuzz/corpus/record_open test_tls '[.corpus_record_open]'
// (same keys as here).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "tls/record_protection.hpp"

using namespace ptun::tls;

namespace {

// Keep in step with fixed_keys() in tests/tls/test_record_protection.cpp.
std::unique_ptr<RecordProtection> fixed(RecordAead aead) {
  RecordKeys k;
  k.aead = aead;
  for (size_t i = 0; i < 32; ++i) k.write_key[i] = k.read_key[i] = uint8_t(i + 1);
  for (size_t i = 0; i < 12; ++i) k.write_iv[i] = k.read_iv[i] = uint8_t(0xa0 + i);
  auto p = RecordProtection::make(k);
  if (!p) std::abort();
  return std::move(*p);
}

constexpr uint64_t kEpoch1 = uint64_t{1} << 48;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static RecordProtection* gcm = fixed(RecordAead::aes_128_gcm).release();
  static RecordProtection* chacha = fixed(RecordAead::chacha20_poly1305).release();
  if (size < 1) return 0;
  RecordProtection& prot = (data[0] & 1) ? *chacha : *gcm;
  // An exact-size heap copy: ASan sees any byte read or written past the datagram.
  std::vector<uint8_t> datagram(data + 1, data + size);

  if (classify_datagram(datagram) == DatagramPath::fast) {
    ReplayWindow window;
    OpenDrops drops;
    RecordCursor cursor{datagram};
    std::span<uint8_t> plain;
    size_t opened = 0;
    while (open_next(prot, window, 1, cursor, &plain, &drops)) {
      if (plain.data() < datagram.data() || plain.data() + plain.size() > datagram.data() + datagram.size())
        std::abort();
      if (plain.empty() || plain.size() > kMaxRecordPlaintext) std::abort();
      if (++opened > datagram.size()) std::abort();
    }
  }

  // Round trip of the input bytes as plaintext.
  size_t len = std::min(size - 1, kMaxRecordPlaintext);
  std::vector<uint8_t> rec(prot.headroom() + len + prot.tailroom());
  std::memcpy(rec.data() + prot.headroom(), data + 1, len);
  uint64_t seq = size > 7 ? (uint64_t(data[1]) << 40 | uint64_t(data[2]) << 32 | uint64_t(data[3]) << 24 |
                             uint64_t(data[4]) << 16 | uint64_t(data[5]) << 8 | data[6])
                          : 0;
  if (prot.seal(rec.data(), len, kEpoch1 | seq) != rec.size()) std::abort();
  ReplayWindow window;
  OpenDrops drops;
  RecordCursor cursor{rec};
  std::span<uint8_t> plain;
  bool got = open_next(prot, window, 1, cursor, &plain, &drops);
  if (len == 0) {
    if (got) std::abort();  // empty records are authenticated and skipped
  } else if (!got || plain.size() != len || std::memcmp(plain.data(), data + 1, len) != 0) {
    std::abort();
  }
  return 0;
}
