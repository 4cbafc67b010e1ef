#include "tls/dtls_record.hpp"

#include <cstring>

namespace ptun::tls::wire {
namespace {

// Bounds-checked big-endian reader; every read fails once past the end and stays failed.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> d) : d_(d) {}
  bool ok() const { return ok_; }
  size_t left() const { return ok_ ? d_.size() - pos_ : 0; }
  uint64_t uint(size_t n) {
    if (!need(n)) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | d_[pos_++];
    return v;
  }
  std::span<const uint8_t> bytes(size_t n) {
    if (!need(n)) return {};
    auto s = d_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  bool need(size_t n) {
    if (!ok_ || d_.size() - pos_ < n) ok_ = false;
    return ok_;
  }
  std::span<const uint8_t> d_;
  size_t pos_ = 0;
  bool ok_ = true;
};

void put(uint8_t*& p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) *p++ = uint8_t(v >> (8 * (n - 1 - i)));
}

// Walks the ClientHello body after the handshake header (RFC 5246 7.4.1.2 + RFC 6347 cookie).
bool parse_client_hello_body(std::span<const uint8_t> body, ClientHelloView* out) {
  Reader r(body);
  out->client_major = uint8_t(r.uint(1));
  out->client_minor = uint8_t(r.uint(1));
  r.bytes(32);  // random
  size_t sid_len = r.uint(1);
  if (sid_len > kMaxSessionIdLen) return false;
  r.bytes(sid_len);
  size_t cookie_len = r.uint(1);
  out->cookie = r.bytes(cookie_len);
  size_t suites_len = r.uint(2);
  if (suites_len < 2 || suites_len % 2 != 0) return false;
  r.bytes(suites_len);
  size_t comp_len = r.uint(1);
  if (comp_len < 1) return false;
  r.bytes(comp_len);
  if (!r.ok() || out->client_major != kDtlsMajor) return false;
  if (r.left() == 0) return true;  // no extensions block
  size_t ext_len = r.uint(2);
  if (!r.ok() || ext_len != r.left()) return false;
  while (r.left() > 0) {
    r.uint(2);  // extension type
    r.bytes(r.uint(2));
    if (!r.ok()) return false;
  }
  return true;
}

}  // namespace

bool parse_record_header(std::span<const uint8_t> data, RecordHeader* out) {
  if (data.size() < kRecordHeaderLen) return false;
  // Fixed offsets, no Reader: this runs for every record of every datagram (framing, the fast
  // path's classification, the ClientHello filter).
  const uint8_t* p = data.data();
  out->type = p[0];
  out->version_major = p[1];
  out->version_minor = p[2];
  out->epoch = uint16_t(p[3] << 8 | p[4]);
  uint64_t seq = 0;
  for (int i = 5; i < 11; ++i) seq = seq << 8 | p[i];
  out->seq = seq;
  out->length = uint16_t(p[11] << 8 | p[12]);
  return out->length <= data.size() - kRecordHeaderLen;
}

size_t count_records(std::span<const uint8_t> datagram, uint8_t content_type) {
  size_t n = 0;
  RecordHeader h;
  while (parse_record_header(datagram, &h)) {
    if (h.type == content_type) ++n;
    datagram = datagram.subspan(kRecordHeaderLen + h.length);
  }
  return n;
}

ClientHelloParse parse_client_hello(std::span<const uint8_t> datagram, ClientHelloView* out) {
  *out = ClientHelloView{};
  if (datagram.size() < kRecordHeaderLen) return ClientHelloParse::malformed;
  RecordHeader& rec = out->record;
  bool fits = parse_record_header(datagram, &rec);
  if (rec.type != kContentHandshake || rec.version_major != kDtlsMajor || rec.epoch != 0)
    return ClientHelloParse::not_client_hello;
  if (!fits || rec.length < kHandshakeHeaderLen) return ClientHelloParse::malformed;

  Reader hs(datagram.subspan(kRecordHeaderLen, rec.length));
  uint8_t msg_type = uint8_t(hs.uint(1));
  if (msg_type != kHsClientHello) return ClientHelloParse::not_client_hello;
  size_t msg_len = hs.uint(3);
  out->message_seq = uint16_t(hs.uint(2));
  size_t frag_off = hs.uint(3);
  size_t frag_len = hs.uint(3);
  // One unfragmented ClientHello filling the record: what every real client sends, and what the
  // session (mbedTLS refuses fragmented ClientHellos too) will accept afterwards.
  if (frag_off != 0 || frag_len != msg_len || msg_len != hs.left()) return ClientHelloParse::malformed;
  if (!parse_client_hello_body(hs.bytes(msg_len), out)) return ClientHelloParse::malformed;
  return ClientHelloParse::ok;
}

size_t encode_hello_verify_request(const ClientHelloView& ch, std::span<const uint8_t> cookie,
                                   uint8_t* out, size_t cap) {
  if (cookie.size() > kMaxCookieLen) return 0;
  size_t total = hello_verify_request_len(cookie.size());
  if (cap < total) return 0;
  size_t body_len = 3 + cookie.size();
  uint8_t* p = out;
  put(p, kContentHandshake, 1);
  put(p, ch.record.version_major, 1);
  put(p, ch.record.version_minor, 1);
  put(p, 0, 2);              // epoch
  put(p, ch.record.seq, 6);  // echo the ClientHello's record sequence number
  put(p, kHandshakeHeaderLen + body_len, 2);
  put(p, kHsHelloVerifyRequest, 1);
  put(p, body_len, 3);
  put(p, 0, 2);  // message_seq: the server's first message
  put(p, 0, 3);  // fragment_offset
  put(p, body_len, 3);
  put(p, kDtlsMajor, 1);  // server_version: DTLS 1.0, as RFC 6347 4.2.1 recommends
  put(p, kDtls10Minor, 1);
  put(p, cookie.size(), 1);
  if (!cookie.empty()) std::memcpy(p, cookie.data(), cookie.size());
  return total;
}

}  // namespace ptun::tls::wire
