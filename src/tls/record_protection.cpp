#include "tls/record_protection.hpp"

#include <mbedtls/platform_util.h>

#include <cstring>

#include "tls/dtls_record.hpp"

namespace ptun::tls {
namespace {

constexpr size_t kHeader = wire::kRecordHeaderLen;
constexpr size_t kAadLen = 13;

void put_u16(uint8_t* p, uint64_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = uint8_t(v);
}

// AAD = epoch|seq(8) | type | version(2) | plaintext length(2): the first 11 bytes of the record
// header (type, version, epoch|seq) reordered, then the plaintext (not the fragment) length.
void build_aad(const uint8_t* header, size_t plaintext_len, uint8_t aad[kAadLen]) {
  std::memcpy(aad, header + 3, 8);
  std::memcpy(aad + 8, header, 3);
  put_u16(aad + 11, plaintext_len);
}

}  // namespace

RecordKeys::~RecordKeys() {
  mbedtls_platform_zeroize(write_key.data(), write_key.size());
  mbedtls_platform_zeroize(read_key.data(), read_key.size());
}

size_t record_key_len(RecordAead a) { return a == RecordAead::aes_128_gcm ? 16 : 32; }
size_t record_fixed_iv_len(RecordAead a) { return a == RecordAead::aes_128_gcm ? 4 : 12; }

Result<void> derive_record_keys(RecordAead aead, bool is_server, std::span<const uint8_t, 48> master,
                                std::span<const uint8_t, 32> client_random,
                                std::span<const uint8_t, 32> server_random, mbedtls_tls_prf_types prf,
                                RecordKeys* out) {
  // RFC 5246 6.3: key_block = PRF(master, "key expansion", server_random + client_random).
  uint8_t randoms[64];
  std::memcpy(randoms, server_random.data(), 32);
  std::memcpy(randoms + 32, client_random.data(), 32);
  const size_t key = record_key_len(aead), iv = record_fixed_iv_len(aead);
  uint8_t block[2 * 32 + 2 * 12];
  const size_t block_len = 2 * key + 2 * iv;
  int ret = mbedtls_ssl_tls_prf(prf, master.data(), master.size(), "key expansion", randoms, sizeof randoms,
                                block, block_len);
  if (ret != 0) {
    mbedtls_platform_zeroize(block, sizeof block);
    return Error(Errc::protocol, "record keys: PRF failed");
  }
  const uint8_t* client_key = block;
  const uint8_t* server_key = block + key;
  const uint8_t* client_iv = block + 2 * key;
  const uint8_t* server_iv = block + 2 * key + iv;
  out->aead = aead;
  std::memcpy(out->write_key.data(), is_server ? server_key : client_key, key);
  std::memcpy(out->read_key.data(), is_server ? client_key : server_key, key);
  std::memcpy(out->write_iv.data(), is_server ? server_iv : client_iv, iv);
  std::memcpy(out->read_iv.data(), is_server ? client_iv : server_iv, iv);
  mbedtls_platform_zeroize(block, sizeof block);
  return ok();
}

RecordProtection::RecordProtection(RecordAead a) : aead_(a) {}

Result<std::unique_ptr<RecordProtection>> RecordProtection::make(const RecordKeys& keys) {
  std::unique_ptr<RecordProtection> p(new RecordProtection(keys.aead));
  p->write_iv_ = keys.write_iv;
  p->read_iv_ = keys.read_iv;
  const size_t key_len = record_key_len(keys.aead);
  if (!p->write_.set_key(keys.aead, std::span(keys.write_key).first(key_len)) ||
      !p->write_deferred_.set_key(keys.aead, std::span(keys.write_key).first(key_len)) ||
      !p->read_.set_key(keys.aead, std::span(keys.read_key).first(key_len)))
    return Error(Errc::protocol, "record keys: setkey failed");
  return p;
}

RecordProtection::~RecordProtection() {
  mbedtls_platform_zeroize(write_iv_.data(), write_iv_.size());
  mbedtls_platform_zeroize(read_iv_.data(), read_iv_.size());
}

// mbedTLS's ssl_build_record_nonce: the fixed IV, zero-padded to 12 bytes, with the 8 dynamic
// bytes XORed into its end. For GCM that is salt(4) | explicit nonce(8); for ChaCha the RFC 7905
// IV XOR epoch|seq.
void RecordProtection::nonce(const std::array<uint8_t, 12>& iv, const uint8_t* dynamic, uint8_t out[12]) const {
  size_t fixed = record_fixed_iv_len(aead_);
  std::memset(out, 0, 12);
  std::memcpy(out, iv.data(), fixed);
  for (size_t i = 0; i < 8; ++i) out[4 + i] ^= dynamic[i];
}

static_assert(wire::kContentApplicationData == 23, "seal()'s default content type");

size_t RecordProtection::seal(uint8_t* record, size_t plaintext_len, uint64_t epoch_seq, uint8_t content_type) {
  return seal_with(write_, record, plaintext_len, epoch_seq, content_type);
}

size_t RecordProtection::seal_deferred(uint8_t* record, size_t plaintext_len, uint64_t epoch_seq) {
  return seal_with(write_deferred_, record, plaintext_len, epoch_seq, wire::kContentApplicationData);
}

size_t RecordProtection::seal_with(RecordAeadKey& key, uint8_t* record, size_t plaintext_len, uint64_t epoch_seq,
                                   uint8_t content_type) {
  const size_t explicit_len = explicit_nonce_len();
  const size_t fragment_len = explicit_len + plaintext_len + kRecordTagLen;
  record[0] = content_type;
  record[1] = wire::kDtlsMajor;
  record[2] = wire::kDtls12Minor;
  put_u64(record + 3, epoch_seq);
  put_u16(record + 11, fragment_len);
  // mbedTLS uses epoch|seq as the GCM explicit nonce too (unique per record under one key).
  if (explicit_len != 0) std::memcpy(record + kHeader, record + 3, 8);

  uint8_t aad[kAadLen], iv[12];
  build_aad(record, plaintext_len, aad);
  nonce(write_iv_, record + 3, iv);
  uint8_t* data = record + kHeader + explicit_len;
  uint8_t* tag = data + plaintext_len;
  key.seal(iv, aad, data, plaintext_len, tag);
  return kHeader + fragment_len;
}

bool RecordProtection::open(std::span<uint8_t> record, std::span<uint8_t>* plaintext) {
  const size_t explicit_len = explicit_nonce_len();
  if (record.size() < kHeader + explicit_len + kRecordTagLen) return false;
  const size_t plaintext_len = record.size() - kHeader - explicit_len - kRecordTagLen;
  uint8_t aad[kAadLen], iv[12];
  build_aad(record.data(), plaintext_len, aad);
  // GCM: the nonce the sender put in the record (mbedTLS reads it from there, not from the
  // header); ChaCha: the header's epoch|seq.
  nonce(read_iv_, explicit_len != 0 ? record.data() + kHeader : record.data() + 3, iv);
  uint8_t* data = record.data() + kHeader + explicit_len;
  const uint8_t* tag = data + plaintext_len;
  if (!read_.open(iv, aad, data, plaintext_len, tag)) return false;
  *plaintext = std::span<uint8_t>(data, plaintext_len);
  return true;
}

DatagramPath classify_datagram(std::span<const uint8_t> datagram) {
  wire::RecordHeader h;
  while (wire::parse_record_header(datagram, &h)) {
    if (h.type != wire::kContentApplicationData) return DatagramPath::slow;
    datagram = datagram.subspan(kHeader + h.length);
  }
  return DatagramPath::fast;
}

bool open_next(RecordProtection& prot, ReplayWindow& window, uint16_t epoch, RecordCursor& cursor,
               std::span<uint8_t>* plaintext, OpenDrops* drops) {
  while (!cursor.rest.empty()) {
    wire::RecordHeader h;
    if (!wire::parse_record_header(cursor.rest, &h)) {
      // A header cut short or a length running past the datagram: nothing after it can be framed.
      ++drops->malformed;
      cursor.rest = {};
      return false;
    }
    std::span<uint8_t> record = cursor.rest.first(kHeader + h.length);
    cursor.rest = cursor.rest.subspan(record.size());
    if (h.type != wire::kContentApplicationData || h.version_major != wire::kDtlsMajor ||
        h.version_minor != wire::kDtls12Minor || h.length < prot.explicit_nonce_len() + kRecordTagLen) {
      ++drops->malformed;
      continue;
    }
    if (h.epoch != epoch) {
      ++drops->wrong_epoch;
      continue;
    }
    if (h.length - prot.explicit_nonce_len() - kRecordTagLen > kMaxRecordPlaintext) {
      ++drops->oversize;
      continue;
    }
    if (!window.check(h.seq)) {
      ++drops->replayed;
      continue;
    }
    std::span<uint8_t> plain;
    if (!prot.open(record, &plain)) {
      ++drops->bad_mac;
      continue;
    }
    window.update(h.seq);
    if (plain.empty()) continue;  // authentic but carries nothing (mbedTLS skips these too)
    *plaintext = plain;
    return true;
  }
  return false;
}

}  // namespace ptun::tls
