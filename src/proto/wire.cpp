#include "proto/wire.hpp"

namespace ptun::proto {

const char* to_string(HeaderStatus s) {
  switch (s) {
    case HeaderStatus::ok: return "ok";
    case HeaderStatus::too_short: return "too short";
    case HeaderStatus::unknown_version: return "unknown version";
    case HeaderStatus::unknown_kind: return "unknown kind";
    case HeaderStatus::zero_session: return "zero session id";
  }
  return "?";
}

HeaderStatus decode_outer_header(std::span<const uint8_t> p, OuterHeader* out) {
  if (p.size() < kOuterHeaderSize) return HeaderStatus::too_short;
  uint8_t version = p[0] >> 4, kind = p[0] & 0x0f;
  // The version is checked before the kind: a future version may define kinds differently.
  if (version != kWireVersion) return HeaderStatus::unknown_version;
  if (kind > uint8_t(Kind::unknown_session)) return HeaderStatus::unknown_kind;
  if (kind == uint8_t(Kind::dtls) && p.size() == kOuterHeaderSize) return HeaderStatus::too_short;
  uint64_t id = 0;
  for (size_t i = 1; i < kOuterHeaderSize; ++i) id = (id << 8) | p[i];
  if (id == 0) return HeaderStatus::zero_session;
  out->version = version;
  out->kind = Kind(kind);
  out->session_id = id;
  return HeaderStatus::ok;
}

void encode_outer_header(uint8_t* out, uint64_t session_id, Kind kind) {
  out[0] = uint8_t((kWireVersion << 4) | (uint8_t(kind) & 0x0f));
  session_id &= kSessionIdMask;
  for (size_t i = kOuterHeaderSize - 1; i >= 1; --i) {
    out[i] = uint8_t(session_id);
    session_id >>= 8;
  }
}

uint64_t random_session_id(Rng& rng) {
  for (;;) {
    uint64_t id = rng.u64() & kSessionIdMask;
    if (id != 0) return id;
  }
}

bool looks_like_client_hello(std::span<const uint8_t> d) {
  // DTLS record header: type(1) version(2) epoch(2) seq(6) length(2); then the handshake header:
  // msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3).
  // Every record counts: mbedTLS processes all records of a datagram, so a ClientHello behind
  // another record would otherwise slip past the collision checks into a live session.
  while (d.size() >= 13) {
    size_t len = (size_t(d[11]) << 8) | d[12];
    bool hello = d[0] == 22 /* handshake */ && d[1] == 0xfe /* DTLS major */ &&
                 d[3] == 0 && d[4] == 0 /* epoch 0: unencrypted */ && d.size() >= 13 + 12 &&
                 d[13] == 1 /* client_hello */;
    if (hello) return true;
    if (d.size() - 13 < len) return false;  // truncated: mbedTLS drops the rest too
    d = d.subspan(13 + len);
  }
  return false;
}

size_t endpoint_id_bytes(const Endpoint& ep, uint8_t* out) {
  size_t n = 0;
  out[n++] = uint8_t(ep.addr.family);
  size_t alen = ep.addr.size();
  for (size_t i = 0; i < alen; ++i) out[n++] = ep.addr.bytes[i];
  out[n++] = uint8_t(ep.port >> 8);
  out[n++] = uint8_t(ep.port);
  return n;
}

}  // namespace ptun::proto
