// DTLS 1.2 application-data records sealed and opened in place (RFC 6347 4.1, RFC 5246 6.2.3.3,
// RFC 5288 for AES-GCM, RFC 7905 for ChaCha20-Poly1305), byte for byte what mbedTLS 3.6 sends and
// accepts (ssl_msg.c: mbedtls_ssl_encrypt_buf / mbedtls_ssl_decrypt_buf):
//
//   record = type(1)=23 | version(2)={254,253} | epoch(2) | seq(6) | length(2) | fragment
//   AES-GCM fragment  = explicit nonce(8) = epoch|seq | ciphertext | tag(16)
//                       nonce = client/server write IV(4) | explicit nonce(8)
//   ChaCha fragment   = ciphertext | tag(16)
//                       nonce = write IV(12) XOR (0000 | epoch|seq)
//   AAD               = epoch|seq(8) | type(1) | version(2) | plaintext length(2)
//
// Keys come from the TLS 1.2 master secret (derive_record_keys: PRF "key expansion" over
// server_random | client_random; the AEAD suites have no MAC keys). Pure code: no mbedTLS SSL
// context, no sockets, no allocation per record. Sequence numbers and the replay window are the
// caller's (DtlsSession keeps them in mbedTLS's context: one sequence space for both paths).
#pragma once
#include <mbedtls/ssl.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "common/result.hpp"
#include "tls/record_aead.hpp"
#include "tls/replay_window.hpp"

namespace ptun::tls {

inline constexpr size_t kGcmExplicitNonceLen = 8;
inline constexpr size_t kMaxSealHeadroom = 13 + kGcmExplicitNonceLen;  // header + explicit nonce
inline constexpr size_t kMaxRecordPlaintext = 16384;                    // 2^14 (RFC 5246 6.2.1)

// The keys of one direction pair, from this endpoint's point of view.
struct RecordKeys {
  RecordAead aead = RecordAead::chacha20_poly1305;
  std::array<uint8_t, 32> write_key{}, read_key{};  // 16 bytes used for AES-128-GCM
  std::array<uint8_t, 12> write_iv{}, read_iv{};    // 4 bytes used for AES-GCM (implicit salt)
  ~RecordKeys();                                    // zeroizes
};

size_t record_key_len(RecordAead a);
size_t record_fixed_iv_len(RecordAead a);

// TLS 1.2 key block from the master secret, as mbedTLS's ssl_tls12_populate_transform does:
// client_write_key | server_write_key | client_write_IV | server_write_IV. `is_server` picks
// which halves are ours. Errors: Errc::protocol if the PRF fails (unknown prf type).
Result<void> derive_record_keys(RecordAead aead, bool is_server, std::span<const uint8_t, 48> master,
                                std::span<const uint8_t, 32> client_random,
                                std::span<const uint8_t, 32> server_random, mbedtls_tls_prf_types prf,
                                RecordKeys* out);

// One epoch's AEAD contexts. Neither copyable nor movable (cipher contexts); make() it. Owned by
// a shared_ptr where records may wait to be sealed (PendingSeal::keep takes a hold from it).
class RecordProtection : public std::enable_shared_from_this<RecordProtection> {
 public:
  static Result<std::unique_ptr<RecordProtection>> make(const RecordKeys& keys);
  ~RecordProtection();
  RecordProtection(const RecordProtection&) = delete;
  RecordProtection& operator=(const RecordProtection&) = delete;

  RecordAead aead() const { return aead_; }
  size_t headroom() const { return 13 + explicit_nonce_len(); }  // 21 GCM, 13 ChaCha
  static constexpr size_t tailroom() { return kRecordTagLen; }
  size_t explicit_nonce_len() const { return aead_ == RecordAead::aes_128_gcm ? kGcmExplicitNonceLen : 0; }

  // Seals one application-data record in place. `record` points at headroom() writable bytes,
  // followed by `plaintext_len` bytes of plaintext, followed by tailroom() writable bytes.
  // `epoch_seq` = epoch << 48 | sequence number: the caller guarantees it is never reused with
  // these keys. Writes header, nonce, ciphertext and tag; returns the record length
  // (headroom() + plaintext_len + tailroom()). The caller keeps plaintext_len <=
  // kMaxRecordPlaintext (peers refuse longer records; DtlsSession::seal checks it).
  // `content_type`: application data (23) for ptun; the fuzz harnesses also seal alerts and
  // handshake records the way a peer holding the keys could.
  size_t seal(uint8_t* record, size_t plaintext_len, uint64_t epoch_seq, uint8_t content_type = 23);
  // The same with the second sealing context, which belongs to whoever writes the pipeline's
  // socket queues (its flush on the loop, or its tx thread while it holds the queue): a
  // PendingSeal (below) seals through it, seal() through the first, so the two threads never
  // share a cipher context. Both draw on one sequence space (the caller's): no nonce repeats.
  size_t seal_deferred(uint8_t* record, size_t plaintext_len, uint64_t epoch_seq);

  // Authenticates and decrypts the fragment of one application-data record in place. `record` is
  // the whole record (header included, header fields already parsed and length-checked by the
  // caller). On success the plaintext is written over the ciphertext and *plaintext points at it
  // inside `record`; on failure the fragment holds garbage (drop it). False: too short or bad tag.
  bool open(std::span<uint8_t> record, std::span<uint8_t>* plaintext);

 private:
  explicit RecordProtection(RecordAead a);
  void nonce(const std::array<uint8_t, 12>& iv, const uint8_t* dynamic, uint8_t out[12]) const;
  size_t seal_with(RecordAeadKey& key, uint8_t* record, size_t plaintext_len, uint64_t epoch_seq,
                   uint8_t content_type);

  RecordAead aead_;
  std::array<uint8_t, 12> write_iv_{}, read_iv_{};
  // record_aead.hpp: OpenSSL where built with it, libsodium in the static build, else mbedTLS.
  RecordAeadKey write_, write_deferred_, read_;
};

// One application-data record whose sequence number is taken and whose plaintext sits in a
// datagram, sealed later by whoever sends the datagram, just before it leaves: the pipeline's
// flush, or its tx thread (src/datapath/tx_thread.hpp), which so takes the AEAD work of the
// outbound direction off the loop. Its hold (keep()) keeps the keys alive while the record waits,
// even if its session ends meanwhile; the loop thread makes and drops PendingSeals (the shared
// count is touched there only), the tx thread only calls seal_in(). A record sealed at once (no
// tx thread) takes no hold: no shared count changes per packet.
struct PendingSeal {
  RecordProtection* prot = nullptr;         // none: nothing to seal (a datagram sealed already)
  std::shared_ptr<RecordProtection> hold;   // keep(): prot stays alive while the record waits
  uint64_t epoch_seq = 0;
  uint32_t record_off = 0;                  // where the record starts in the datagram
  uint32_t plaintext_len = 0;
  explicit operator bool() const { return prot != nullptr; }
  // Before storing it past the call that handed it over (prot must be owned by a shared_ptr).
  void keep() {
    if (prot && !hold) hold = prot->shared_from_this();
  }
  // Seals the record inside `datagram` (the first byte of the bytes sent) with the deferred
  // context. Once per PendingSeal.
  void seal_in(uint8_t* datagram) const {
    prot->seal_deferred(datagram + record_off, plaintext_len, epoch_seq);
  }
  // Seals it with the loop's context, for a datagram that does not go through a pipeline queue
  // (a TCP stream, a test): the loop thread only.
  void seal_now(uint8_t* datagram) const { prot->seal(datagram + record_off, plaintext_len, epoch_seq); }
};

// ---- one received datagram, walked record by record (no allocation) ---------------------------

enum class DatagramPath {
  fast,  // every record up to the first malformed one is application data: open_next() them
  slow,  // it holds a handshake, CCS or alert record (or an unknown type): mbedTLS's business
};

// Decides from the record headers alone, touching no byte: a datagram is fast unless a record
// whose header fits before the first malformed one has a content type other than 23. The epoch
// is not looked at here (application data of another epoch is dropped by open_next, as mbedTLS
// would drop it).
DatagramPath classify_datagram(std::span<const uint8_t> datagram);

// Why open_next dropped records; DtlsSession adds them to DtlsStats.
struct OpenDrops {
  uint64_t replayed = 0;     // seen already, or older than the window
  uint64_t bad_mac = 0;      // tag did not verify (forged or tampered)
  uint64_t wrong_epoch = 0;  // application data of another epoch
  uint64_t malformed = 0;    // truncated header, length beyond the datagram, shorter than nonce +
                             // tag, wrong version, or a non-application type in a fast datagram
  uint64_t oversize = 0;     // plaintext longer than 2^14
};

// Position in a datagram being opened; starts at the whole datagram.
struct RecordCursor {
  std::span<uint8_t> rest;
};

// Opens the next authentic, fresh application-data record of epoch `epoch` at the cursor in
// place and points *plaintext at it (inside the datagram); empty records are authenticated and
// skipped. Records that fail a check are dropped and counted in *drops; a malformed length ends
// the walk (the rest of the datagram cannot be framed). Returns false when nothing is left.
bool open_next(RecordProtection& prot, ReplayWindow& window, uint16_t epoch, RecordCursor& cursor,
               std::span<uint8_t>* plaintext, OpenDrops* drops);

}  // namespace ptun::tls
