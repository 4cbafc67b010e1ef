// RecordProtection with fixed keys (no handshake): the key block against an independent TLS 1.2
// PRF (Python's hmac), seal/open round trips, datagram classification and the drop causes of
// open_next. The interoperability with mbedTLS's record layer is in test_dtls_fast_path.cpp.
//
// Also the seed corpus writer for fuzz/fuzz_record_open ([.corpus_record_open]):
//   PTUN_CORPUS_DIR=fuzz/corpus/record_open test_tls '[.corpus_record_open]'
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tls/record_protection.hpp"

using namespace ptun;
using namespace ptun::tls;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes from_hex(const std::string& h) {
  Bytes b;
  for (size_t i = 0; i + 1 < h.size(); i += 2) b.push_back(uint8_t(std::stoi(h.substr(i, 2), nullptr, 16)));
  return b;
}

// The keys fuzz/fuzz_record_open.cpp uses (keep the two in step): both directions alike, so a
// record sealed by one RecordProtection opens with the same one.
RecordKeys fixed_keys(RecordAead aead) {
  RecordKeys k;
  k.aead = aead;
  for (size_t i = 0; i < 32; ++i) k.write_key[i] = k.read_key[i] = uint8_t(i + 1);
  for (size_t i = 0; i < 12; ++i) k.write_iv[i] = k.read_iv[i] = uint8_t(0xa0 + i);
  return k;
}

std::unique_ptr<RecordProtection> make(const RecordKeys& k) {
  auto p = RecordProtection::make(k);
  REQUIRE(p);
  return std::move(*p);
}

Bytes seal(RecordProtection& p, const Bytes& plain, uint64_t epoch_seq) {
  Bytes buf(p.headroom() + plain.size() + p.tailroom());
  if (!plain.empty()) std::memcpy(buf.data() + p.headroom(), plain.data(), plain.size());   // no memcpy from nullptr (UBSan)
  size_t n = p.seal(buf.data(), plain.size(), epoch_seq);
  REQUIRE(n == buf.size());
  return buf;
}

std::vector<Bytes> open_all(RecordProtection& p, ReplayWindow& w, Bytes& datagram, OpenDrops* drops) {
  RecordCursor c{datagram};
  std::vector<Bytes> out;
  std::span<uint8_t> plain;
  while (open_next(p, w, 1, c, &plain, drops)) out.emplace_back(plain.begin(), plain.end());
  return out;
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

constexpr uint64_t kEpoch1 = uint64_t{1} << 48;

}  // namespace

TEST_CASE("record protection: a PendingSeal seals in the deferred context byte for byte as seal() does", "[tls][record]") {
  for (auto aead : {RecordAead::aes_128_gcm, RecordAead::chacha20_poly1305}) {
    auto keys = fixed_keys(aead);
    std::shared_ptr<RecordProtection> p = make(keys);
    Bytes plain(300);
    for (size_t i = 0; i < plain.size(); ++i) plain[i] = uint8_t(i * 7);
    for (uint64_t seq : {uint64_t(1) << 48, (uint64_t(1) << 48) | 77}) {
      Bytes direct = seal(*p, plain, seq);
      // A datagram with a 5-byte prefix before the record, as the outer header sits before it.
      Bytes dgram(5 + p->headroom() + plain.size() + p->tailroom(), 0xee);
      std::memcpy(dgram.data() + 5 + p->headroom(), plain.data(), plain.size());
      PendingSeal later{p.get(), {}, seq, 5, uint32_t(plain.size())};
      later.seal_in(dgram.data());
      CHECK(Bytes(dgram.begin() + 5, dgram.end()) == direct);
      CHECK(std::all_of(dgram.begin(), dgram.begin() + 5, [](uint8_t b) { return b == 0xee; }));
      // ... and seal_now (the loop's context) alike.
      Bytes again(dgram.size(), 0xee);
      std::memcpy(again.data() + 5 + p->headroom(), plain.data(), plain.size());
      later.seal_now(again.data());
      CHECK(again == dgram);
    }
  }
}

TEST_CASE("record keys: the key block of TLS 1.2's PRF, split as mbedTLS splits it", "[tls][record]") {
  uint8_t master[48], cr[32], sr[32];
  for (int i = 0; i < 48; ++i) master[i] = uint8_t(i);
  for (int i = 0; i < 32; ++i) cr[i] = uint8_t(0x40 + i), sr[i] = uint8_t(0x80 + i);
  // PRF-SHA256(master, "key expansion", server_random + client_random), computed with Python.
  Bytes block = from_hex(
      "a1c8bdbce8830007e5719b5f9764ae0c42c3a103d08d01b711b292bfd1f332473e5667ef1f21ed64b616b533929f8e73"
      "7406938bbae4d1387dbb67a32bbfd03fe3f3a5e61a434e9c07de3b04218aeb811ebeced2da38d56b");
  auto [aead, key, iv] = GENERATE(std::make_tuple(RecordAead::aes_128_gcm, 16, 4),
                                  std::make_tuple(RecordAead::chacha20_poly1305, 32, 12));
  RecordKeys c, s;
  REQUIRE(derive_record_keys(aead, false, std::span<const uint8_t, 48>(master), cr, sr, MBEDTLS_SSL_TLS_PRF_SHA256, &c));
  REQUIRE(derive_record_keys(aead, true, std::span<const uint8_t, 48>(master), cr, sr, MBEDTLS_SSL_TLS_PRF_SHA256, &s));
  auto at = [&](int off) { return block.begin() + off; };
  CHECK(std::equal(at(0), at(key), c.write_key.begin()));
  CHECK(std::equal(at(key), at(2 * key), c.read_key.begin()));
  CHECK(std::equal(at(2 * key), at(2 * key + iv), c.write_iv.begin()));
  CHECK(std::equal(at(2 * key + iv), at(2 * key + 2 * iv), c.read_iv.begin()));
  CHECK(s.write_key == c.read_key);
  CHECK(s.read_key == c.write_key);
  CHECK(s.write_iv == c.read_iv);
  CHECK(s.read_iv == c.write_iv);
  RecordKeys bad;
  CHECK(!derive_record_keys(aead, true, std::span<const uint8_t, 48>(master), cr, sr, MBEDTLS_SSL_TLS_PRF_NONE, &bad));
}

TEST_CASE("record protection: seal and open in place, both AEADs", "[tls][record]") {
  RecordAead aead = GENERATE(RecordAead::aes_128_gcm, RecordAead::chacha20_poly1305);
  RecordKeys ka = fixed_keys(aead), kb = fixed_keys(aead);
  kb.read_key[0] ^= 1;  // b's read key is not a's write key
  auto a = make(ka), b = make(kb);
  CHECK(a->headroom() == (aead == RecordAead::aes_128_gcm ? 21u : 13u));

  Bytes plain = text("in place, please");
  Bytes rec = seal(*a, plain, kEpoch1 | 42);
  CHECK(rec[0] == 23);
  CHECK(rec[1] == 254);
  CHECK(rec[2] == 253);
  CHECK(Bytes(rec.begin() + 3, rec.begin() + 11) == Bytes{0, 1, 0, 0, 0, 0, 0, 42});
  CHECK(size_t(rec[11] << 8 | rec[12]) == rec.size() - 13);
  CHECK(!std::equal(plain.begin(), plain.end(), rec.begin() + long(a->headroom())));  // encrypted

  Bytes copy = rec;
  std::span<uint8_t> out;
  REQUIRE(a->open(copy, &out));
  CHECK(Bytes(out.begin(), out.end()) == plain);
  CHECK(out.data() == copy.data() + a->headroom());
  copy = rec;
  CHECK(!b->open(copy, &out));
  // The same plaintext under another sequence number is another ciphertext (fresh nonce).
  Bytes rec2 = seal(*a, plain, kEpoch1 | 43);
  CHECK(!std::equal(rec.begin() + 13, rec.end(), rec2.begin() + 13));
  // An empty record seals and opens (open_next skips it as carrying nothing).
  Bytes empty = seal(*a, {}, kEpoch1 | 44);
  CHECK(empty.size() == a->headroom() + 16);
  REQUIRE(a->open(empty, &out));
  CHECK(out.empty());
}

TEST_CASE("record protection: datagram classification reads headers only", "[tls][record]") {
  auto a = make(fixed_keys(RecordAead::chacha20_poly1305));
  Bytes r1 = seal(*a, text("one"), kEpoch1 | 1), r2 = seal(*a, text("two"), kEpoch1 | 2);
  Bytes both = r1;
  both.insert(both.end(), r2.begin(), r2.end());
  CHECK(classify_datagram(both) == DatagramPath::fast);
  Bytes with_alert = both;
  with_alert[r1.size()] = 21;
  CHECK(classify_datagram(with_alert) == DatagramPath::slow);
  Bytes hs = r1;
  hs[0] = 22;
  CHECK(classify_datagram(hs) == DatagramPath::slow);
  Bytes unknown = r1;
  unknown[0] = 99;
  CHECK(classify_datagram(unknown) == DatagramPath::slow);
  // Malformed after a good record: fast (open_next drops the tail); nothing framed: fast too.
  Bytes tail = r1;
  tail.push_back(22);
  CHECK(classify_datagram(tail) == DatagramPath::fast);
  CHECK(classify_datagram(Bytes{}) == DatagramPath::fast);
  CHECK(classify_datagram(both) == DatagramPath::fast);
  CHECK(both == [&] { Bytes b = r1; b.insert(b.end(), r2.begin(), r2.end()); return b; }());  // untouched
}

TEST_CASE("record protection: open_next drops and counts by cause", "[tls][record]") {
  RecordAead aead = GENERATE(RecordAead::aes_128_gcm, RecordAead::chacha20_poly1305);
  auto a = make(fixed_keys(aead));
  ReplayWindow w;
  OpenDrops d;
  Bytes good = seal(*a, text("good"), kEpoch1 | 5);

  Bytes dg = good;
  CHECK(open_all(*a, w, dg, &d) == std::vector<Bytes>{text("good")});
  dg = good;
  CHECK(open_all(*a, w, dg, &d).empty());
  CHECK(d.replayed == 1);

  Bytes other_epoch = seal(*a, text("x"), (uint64_t{2} << 48) | 6);
  CHECK(open_all(*a, w, other_epoch, &d).empty());
  CHECK(d.wrong_epoch == 1);

  Bytes forged = seal(*a, text("forged"), kEpoch1 | 7);
  forged.back() ^= 1;
  CHECK(open_all(*a, w, forged, &d).empty());
  CHECK(d.bad_mac == 1);
  CHECK(w.check(7));  // a forgery does not move the window

  Bytes big(kMaxRecordPlaintext + 1, 0);
  Bytes oversize = seal(*a, big, kEpoch1 | 8);
  CHECK(open_all(*a, w, oversize, &d).empty());
  CHECK(d.oversize == 1);

  Bytes version = seal(*a, text("v"), kEpoch1 | 9);
  version[2] = 255;  // DTLS 1.0
  CHECK(open_all(*a, w, version, &d).empty());
  CHECK(d.malformed == 1);

  Bytes empty = seal(*a, {}, kEpoch1 | 10);
  CHECK(open_all(*a, w, empty, &d).empty());
  CHECK(!w.check(10));  // authentic: counted in the window, not as a drop
  CHECK(d.malformed == 1);
  CHECK(d.bad_mac == 1);
}

TEST_CASE("write the fuzz seed corpus of sealed records", "[.corpus_record_open][tls]") {
  const char* dir = std::getenv("PTUN_CORPUS_DIR");
  INFO("set PTUN_CORPUS_DIR to the directory to write (fuzz/corpus/record_open)");
  REQUIRE(dir != nullptr);
  // Input format of fuzz_record_open: byte 0 picks the AEAD (bit 0: 0 GCM, 1 ChaCha), the rest
  // is one datagram of epoch 1.
  int n = 0;
  auto write = [&](uint8_t selector, const Bytes& datagram) {
    std::ofstream f(std::string(dir) + "/seed-" + std::to_string(n++), std::ios::binary);
    f.put(char(selector));
    f.write(reinterpret_cast<const char*>(datagram.data()), std::streamsize(datagram.size()));
  };
  for (uint8_t sel : {uint8_t(0), uint8_t(1)}) {
    auto a = make(fixed_keys(sel == 0 ? RecordAead::aes_128_gcm : RecordAead::chacha20_poly1305));
    write(sel, seal(*a, text("a single record"), kEpoch1 | 1));
    Bytes three;
    for (uint64_t s = 1; s <= 3; ++s) {
      Bytes r = seal(*a, Bytes(40 * s, uint8_t('a' + s)), kEpoch1 | s);
      three.insert(three.end(), r.begin(), r.end());
    }
    write(sel, three);
    write(sel, seal(*a, Bytes(1400, 0x45), kEpoch1 | 77));
    write(sel, seal(*a, {}, kEpoch1 | 2));
  }
}
