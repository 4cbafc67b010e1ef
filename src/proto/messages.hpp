// Control messages carried inside DTLS application records (docs/protocol.md, "Inner messages").
// An IP packet travels as-is (first nibble 4 or 6); a control message starts with a type byte
// whose high nibble is 0. Extensible bodies are TLVs (u8 type, u16 length, value); unknown TLVs
// are skipped so that older peers accept newer messages. Bytes after the fixed fields of PING,
// PONG and CLOSE are reserved for extensions in the same spirit (CLOSE's text runs to the end).
//
// Decoders are pure and bounds-checked: every length is checked against the bytes that remain.
// They return Error(Errc::protocol, why) for malformed input. This is the control path, so
// decoders may allocate (strings); the IP packet path never reaches this file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "common/result.hpp"

namespace ptun::proto {

// The version of the inner message set, sent in CLIENT_HELLO.
inline constexpr uint8_t kProtocolVersion = 1;

enum class MsgType : uint8_t {
  client_hello = 0x01,
  settings = 0x02,
  ping = 0x03,
  pong = 0x04,
  close = 0x05,
};

// Why a session ended. The numeric values are the CLOSE reason codes on the wire.
enum class CloseReason : uint8_t {
  none = 0,  // unspecified (also: a reason code this version does not know)
  user = 1,
  shutdown = 2,
  auth_refused = 3,
  no_address = 4,
  server_full = 5,
  kicked = 6,
  idle_timeout = 7,
  dead_peer = 8,
  protocol_error = 9,
  handshake_failed = 10,
  handshake_timeout = 11,
  version_mismatch = 12,
  rekeyed = 13,  // the client replaced this session by a rekeyed one (docs/protocol.md §5)
  replaced = 14, // a newer session of the same certificate (another device) took this one's place
};
inline constexpr uint8_t kMaxCloseReason = 14;
const char* to_string(CloseReason r);

inline constexpr size_t kMaxSoftwareVersion = 64;  // bytes of CLIENT_HELLO's version string
inline constexpr size_t kMaxCloseText = 200;       // bytes of CLOSE's text

struct ClientHello {
  uint8_t protocol_version = kProtocolVersion;
  std::string software_version;  // UTF-8, at most kMaxSoftwareVersion bytes
  bool want_ipv4 = true;
  bool want_ipv6 = true;
  // Rekey (TLV 0x03): the id of the live session this one replaces with fresh keys; 0 = none.
  uint64_t rekey_of = 0;
  bool operator==(const ClientHello&) const = default;
};

struct Ping {  // PING and PONG share the body; PONG echoes the PING's fields
  uint64_t seq = 0;
  uint64_t timestamp_ms = 0;  // the PING sender's clock; opaque to the receiver
  bool operator==(const Ping&) const = default;
};

struct Close {
  CloseReason reason = CloseReason::none;
  std::string text;  // UTF-8, at most kMaxCloseText bytes
};

// The message type of a control record (its first byte), or 0 if empty.
inline uint8_t control_type(std::span<const uint8_t> rec) { return rec.empty() ? 0 : rec[0]; }

// Encoders write into `out` and return the byte count, or Error(Errc::limit) if it does not fit
// (Errc::invalid_argument for a value the format cannot carry, e.g. an over-long version string).
Result<size_t> encode_client_hello(const ClientHello& m, std::span<uint8_t> out);
Result<ClientHello> decode_client_hello(std::span<const uint8_t> msg);

inline constexpr size_t kPingSize = 1 + 8 + 8;
// PING/PONG are fixed-size: these cannot fail when out.size() >= kPingSize (return 0 otherwise).
size_t encode_ping(const Ping& m, std::span<uint8_t> out);
size_t encode_pong(const Ping& m, std::span<uint8_t> out);
// Decodes PING or PONG (the caller has dispatched on the type byte).
Result<Ping> decode_ping(std::span<const uint8_t> msg);

// The text is cut at a UTF-8 character boundary to kMaxCloseText bytes.
Result<size_t> encode_close(CloseReason reason, std::string_view text, std::span<uint8_t> out);
// Unknown reason codes decode as CloseReason::none; text that is not UTF-8 is replaced by
// "(invalid text)" rather than refused: a CLOSE is honoured whatever its text says.
Result<Close> decode_close(std::span<const uint8_t> msg);

// UTF-8 validation (no overlongs, no surrogates, at most U+10FFFF).
bool valid_utf8(std::span<const uint8_t> s);
// A certificate name fit to be a peer name: valid UTF-8 without control characters.
bool valid_peer_name(std::string_view s);
inline bool valid_utf8(std::string_view s) {
  return valid_utf8(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}
// The longest prefix of `s` of at most `max` bytes that does not split a UTF-8 character.
std::string_view utf8_prefix(std::string_view s, size_t max);

}  // namespace ptun::proto
