#include "proto/messages.hpp"

#include "proto/byte_io.hpp"

namespace ptun::proto {

namespace {

// CLIENT_HELLO TLV types.
constexpr uint8_t kHelloSoftwareVersion = 0x01;
constexpr uint8_t kHelloFlags = 0x02;
constexpr uint8_t kHelloRekeyOf = 0x03;
constexpr uint8_t kFlagWantIpv4 = 0x01;
constexpr uint8_t kFlagWantIpv6 = 0x02;

Error malformed(const char* what) { return Error(Errc::protocol, what); }

std::string_view as_sv(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace

const char* to_string(CloseReason r) {
  switch (r) {
    case CloseReason::none: return "unspecified";
    case CloseReason::user: return "closed by user";
    case CloseReason::shutdown: return "shutdown";
    case CloseReason::auth_refused: return "authorization refused";
    case CloseReason::no_address: return "no address available";
    case CloseReason::server_full: return "server full";
    case CloseReason::kicked: return "kicked";
    case CloseReason::idle_timeout: return "idle timeout";
    case CloseReason::dead_peer: return "dead peer";
    case CloseReason::protocol_error: return "protocol error";
    case CloseReason::handshake_failed: return "handshake failed";
    case CloseReason::handshake_timeout: return "handshake timeout";
    case CloseReason::version_mismatch: return "version mismatch";
    case CloseReason::rekeyed: return "rekeyed";
    case CloseReason::replaced: return "replaced by a newer session of this certificate";
  }
  return "unspecified";
}

Result<size_t> encode_client_hello(const ClientHello& m, std::span<uint8_t> out) {
  if (m.software_version.size() > kMaxSoftwareVersion || !valid_utf8(m.software_version))
    return Error(Errc::invalid_argument, "software version must be UTF-8 of at most 64 bytes");
  ByteWriter w(out);
  w.u8(uint8_t(MsgType::client_hello));
  w.u8(m.protocol_version);
  w.tlv(kHelloSoftwareVersion, m.software_version.data(), m.software_version.size());
  uint8_t flags = uint8_t((m.want_ipv4 ? kFlagWantIpv4 : 0) | (m.want_ipv6 ? kFlagWantIpv6 : 0));
  w.tlv(kHelloFlags, &flags, 1);
  if (m.rekey_of != 0) {
    uint8_t id[8];
    for (int i = 0; i < 8; ++i) id[i] = uint8_t(m.rekey_of >> (56 - 8 * i));
    w.tlv(kHelloRekeyOf, id, sizeof id);
  }
  if (!w.ok()) return Error(Errc::limit, "CLIENT_HELLO does not fit");
  return w.size();
}

Result<ClientHello> decode_client_hello(std::span<const uint8_t> msg) {
  ByteReader r(msg);
  uint8_t type = 0;
  ClientHello m;
  if (!r.u8(&type) || type != uint8_t(MsgType::client_hello)) return malformed("not a CLIENT_HELLO");
  if (!r.u8(&m.protocol_version)) return malformed("CLIENT_HELLO truncated");
  while (!r.empty()) {
    uint8_t t = 0;
    uint16_t len = 0;
    std::span<const uint8_t> v;
    if (!r.u8(&t) || !r.u16(&len) || !r.bytes(len, &v)) return malformed("CLIENT_HELLO TLV truncated");
    switch (t) {
      case kHelloSoftwareVersion:
        if (v.size() > kMaxSoftwareVersion || !valid_utf8(v))
          return malformed("CLIENT_HELLO software version invalid");
        m.software_version.assign(as_sv(v));
        break;
      case kHelloFlags:
        if (v.size() != 1) return malformed("CLIENT_HELLO flags length");
        // Unknown flag bits are reserved and ignored.
        m.want_ipv4 = v[0] & kFlagWantIpv4;
        m.want_ipv6 = v[0] & kFlagWantIpv6;
        break;
      case kHelloRekeyOf:
        if (v.size() != 8) return malformed("CLIENT_HELLO rekey length");
        ByteReader(v).u64(&m.rekey_of);
        break;
      default:
        break;  // unknown TLV: skipped (forward compatibility)
    }
  }
  return m;
}

static size_t encode_ping_like(MsgType type, const Ping& m, std::span<uint8_t> out) {
  ByteWriter w(out);
  w.u8(uint8_t(type));
  w.u64(m.seq);
  w.u64(m.timestamp_ms);
  return w.ok() ? w.size() : 0;
}

size_t encode_ping(const Ping& m, std::span<uint8_t> out) { return encode_ping_like(MsgType::ping, m, out); }
size_t encode_pong(const Ping& m, std::span<uint8_t> out) { return encode_ping_like(MsgType::pong, m, out); }

Result<Ping> decode_ping(std::span<const uint8_t> msg) {
  ByteReader r(msg);
  uint8_t type = 0;
  Ping m;
  if (!r.u8(&type) || (type != uint8_t(MsgType::ping) && type != uint8_t(MsgType::pong)))
    return malformed("not a PING/PONG");
  if (!r.u64(&m.seq) || !r.u64(&m.timestamp_ms)) return malformed("PING/PONG truncated");
  return m;  // trailing bytes are reserved for extensions
}

Result<size_t> encode_close(CloseReason reason, std::string_view text, std::span<uint8_t> out) {
  std::string_view t = utf8_prefix(text, kMaxCloseText);
  ByteWriter w(out);
  w.u8(uint8_t(MsgType::close));
  w.u8(uint8_t(reason));
  w.bytes(t.data(), t.size());
  if (!w.ok()) return Error(Errc::limit, "CLOSE does not fit");
  return w.size();
}

Result<Close> decode_close(std::span<const uint8_t> msg) {
  ByteReader r(msg);
  uint8_t type = 0, code = 0;
  if (!r.u8(&type) || type != uint8_t(MsgType::close)) return malformed("not a CLOSE");
  if (!r.u8(&code)) return malformed("CLOSE truncated");
  Close m;
  m.reason = code <= kMaxCloseReason ? CloseReason(code) : CloseReason::none;
  // A longer text is cut at the bound, backing up to the last whole character.
  std::string_view sv = utf8_prefix(as_sv(r.rest()), kMaxCloseText);
  if (valid_utf8(sv))
    m.text.assign(sv);
  else
    m.text = "(invalid text)";
  return m;
}

bool valid_peer_name(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return valid_utf8(s);
}

bool valid_utf8(std::span<const uint8_t> s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    uint8_t c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (len > n - i) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

std::string_view utf8_prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t end = max;
  // Back up over continuation bytes so the cut lands at the start of a character.
  while (end > 0 && (uint8_t(s[end]) & 0xc0) == 0x80) --end;
  return s.substr(0, end);
}

}  // namespace ptun::proto
