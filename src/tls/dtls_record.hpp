// DTLS 1.2 record-layer and ClientHello parsing (RFC 6347 4.1, 4.2.1, 4.3.2), pure functions on
// byte slices. Used by CookieGuard (stateless HelloVerify before any session exists) and by
// DtlsSession for counting records. Nothing here decrypts or allocates.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace ptun::tls::wire {

inline constexpr uint8_t kContentChangeCipherSpec = 20;
inline constexpr uint8_t kContentAlert = 21;
inline constexpr uint8_t kContentHandshake = 22;
inline constexpr uint8_t kContentApplicationData = 23;
inline constexpr uint8_t kHsClientHello = 1;
inline constexpr uint8_t kHsHelloVerifyRequest = 3;
inline constexpr uint8_t kDtlsMajor = 254;        // DTLS versions are 1's complement: 1.0 = {254,255}
inline constexpr uint8_t kDtls10Minor = 255;
inline constexpr uint8_t kDtls12Minor = 253;
inline constexpr size_t kRecordHeaderLen = 13;     // type, version(2), epoch(2), seq(6), length(2)
inline constexpr size_t kHandshakeHeaderLen = 12;  // type, length(3), msg_seq(2), frag_off(3), frag_len(3)
inline constexpr size_t kMaxCookieLen = 255;       // opaque cookie<0..2^8-1>
inline constexpr size_t kMaxSessionIdLen = 32;

struct RecordHeader {
  uint8_t type = 0;
  uint8_t version_major = 0;
  uint8_t version_minor = 0;
  uint16_t epoch = 0;
  uint64_t seq = 0;  // 48 bits
  uint16_t length = 0;
};

// Parses the record header at the start of `data`. False if fewer than 13 bytes are present or the
// declared length runs past the end of `data`.
bool parse_record_header(std::span<const uint8_t> data, RecordHeader* out);

// Number of records of `content_type` in a datagram, walking headers until the end or the first
// header that does not fit (a truncated tail is not counted).
size_t count_records(std::span<const uint8_t> datagram, uint8_t content_type);

// The parts of a ClientHello the cookie exchange needs. Spans point into the parsed datagram.
struct ClientHelloView {
  RecordHeader record;
  uint16_t message_seq = 0;
  uint8_t client_major = 0;
  uint8_t client_minor = 0;
  std::span<const uint8_t> cookie;
};

enum class ClientHelloParse { not_client_hello, malformed, ok };

// Parses the first record of `datagram` as a DTLS ClientHello. not_client_hello: not a DTLS epoch-0
// handshake record carrying message type 1 (e.g. a record of an existing association). malformed:
// it claims to be one but a length is inconsistent, it is fragmented, or a field is out of range.
// Every field up to and including the extensions block is bounds-checked.
ClientHelloParse parse_client_hello(std::span<const uint8_t> datagram, ClientHelloView* out);

// Length of the HelloVerifyRequest datagram encode_hello_verify_request writes for this cookie.
constexpr size_t hello_verify_request_len(size_t cookie_len) {
  return kRecordHeaderLen + kHandshakeHeaderLen + 3 + cookie_len;
}

// Writes a HelloVerifyRequest answering `ch` (RFC 6347 4.2.1: same record version and record
// sequence number as the ClientHello, epoch 0, message_seq 0, server_version DTLS 1.0).
// Returns the bytes written, or 0 if `cap` is too small or the cookie longer than 255 bytes.
size_t encode_hello_verify_request(const ClientHelloView& ch, std::span<const uint8_t> cookie,
                                   uint8_t* out, size_t cap);

}  // namespace ptun::tls::wire
