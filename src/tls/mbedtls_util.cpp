// The one file that reads private fields of mbedTLS 3 (no accessor exists for them): the alert a
// peer sent, the DTLS bad-MAC count, and the record counters and replay window the fast path
// shares with mbedTLS. ptun builds its own pinned mbedTLS 3.6, so the layout is
// known; keep every such access here.
#define MBEDTLS_ALLOW_PRIVATE_ACCESS
#include "common/utc_time.hpp"
#include "tls/mbedtls_util.hpp"

#include <mbedtls/error.h>
#include <mbedtls/ssl.h>
#include <mbedtls/oid.h>
#include <mbedtls/sha256.h>

#include <cstring>

#include <cstdio>
#include <ctime>

#if !defined(MBEDTLS_SSL_DTLS_ANTI_REPLAY)
#error "the fast path shares mbedTLS's replay window: MBEDTLS_SSL_DTLS_ANTI_REPLAY is required"
#endif

namespace ptun::tls::detail {

int64_t x509_time_to_unix(const mbedtls_x509_time& x) {
  return unix_from_utc(UtcTime{x.year, x.mon, x.day, x.hour, x.min, x.sec});
}

int rng_fill(void* p, unsigned char* out, size_t len) {
  static_cast<Rng*>(p)->fill(out, len);
  return 0;
}

uint8_t received_alert(const mbedtls_ssl_context& ssl) {
  return ssl.in_msg != nullptr ? ssl.in_msg[1] : 0;
}

uint64_t bad_mac_records(const mbedtls_ssl_context& ssl) {
  // 3.6.3+ shares this field with TLS handshake reassembly; over DTLS it is the bad-MAC count.
  return ssl.badmac_seen_or_in_hsfraglen;
}

uint16_t in_epoch(const mbedtls_ssl_context& ssl) { return ssl.in_epoch; }

uint16_t out_epoch(const mbedtls_ssl_context& ssl) {
  return uint16_t(ssl.cur_out_ctr[0] << 8 | ssl.cur_out_ctr[1]);
}

uint64_t peek_out_seq(const mbedtls_ssl_context& ssl) {
  uint64_t v = 0;
  for (unsigned char b : ssl.cur_out_ctr) v = v << 8 | b;
  return v;
}

bool take_out_seq(mbedtls_ssl_context& ssl, uint64_t* epoch_seq) {
  uint64_t v = peek_out_seq(ssl);
  if ((v & ReplayWindow::kMaxSeq) == ReplayWindow::kMaxSeq) return false;
  *epoch_seq = v;
  // mbedtls_ssl_write_record: increment the 6 sequence bytes (big-endian), never the epoch.
  for (size_t i = sizeof ssl.cur_out_ctr; i > 2; --i) {
    if (++ssl.cur_out_ctr[i - 1] != 0) break;
  }
  return true;
}

ReplayWindow load_replay_window(const mbedtls_ssl_context& ssl) {
  return ReplayWindow(ssl.in_window_top, ssl.in_window);
}

void store_replay_window(mbedtls_ssl_context& ssl, const ReplayWindow& w) {
  ssl.in_window_top = w.top();
  ssl.in_window = w.bits();
}

void set_writer_names(mbedtls_x509write_cert* w, mbedtls_asn1_named_data* subject,
                      mbedtls_asn1_named_data* issuer) {
  w->subject = subject;
  w->issuer = issuer;
}

bool is_ca(const mbedtls_x509_crt& crt) { return crt.ca_istrue != 0; }

bool continues_rdn(const mbedtls_x509_name& name) { return name.next_merged != 0; }

std::string mbedtls_error_text(int ret) {
  char buf[160];
  mbedtls_strerror(ret, buf, sizeof buf);
  char code[24];
  std::snprintf(code, sizeof code, " (-0x%04x)", unsigned(-ret));
  return std::string(buf) + code;
}

std::string alert_name(uint8_t d) {
  switch (d) {
    case 0: return "close_notify";
    case 10: return "unexpected_message";
    case 20: return "bad_record_mac";
    case 22: return "record_overflow";
    case 40: return "handshake_failure";
    case 42: return "bad_certificate";
    case 43: return "unsupported_certificate";
    case 44: return "certificate_revoked";
    case 45: return "certificate_expired";
    case 46: return "certificate_unknown";
    case 47: return "illegal_parameter";
    case 48: return "unknown_ca";
    case 49: return "access_denied";
    case 50: return "decode_error";
    case 51: return "decrypt_error";
    case 70: return "protocol_version";
    case 71: return "insufficient_security";
    case 80: return "internal_error";
    case 90: return "user_canceled";
    case 100: return "no_renegotiation";
    case 110: return "unsupported_extension";
    default: return "alert " + std::to_string(d);
  }
}

std::string verify_failure_text(uint32_t flags, const std::string& expected_name) {
  struct Named {
    uint32_t flag;
    const char* text;
  };
  static constexpr Named kNamed[] = {
      {MBEDTLS_X509_BADCERT_NOT_TRUSTED, "not trusted by the CA"},
      {MBEDTLS_X509_BADCERT_EXPIRED, "certificate expired"},
      {MBEDTLS_X509_BADCERT_FUTURE, "certificate not yet valid"},
      {MBEDTLS_X509_BADCERT_REVOKED, "certificate revoked"},
      {MBEDTLS_X509_BADCERT_MISSING, "no certificate"},
      {MBEDTLS_X509_BADCERT_KEY_USAGE, "key usage does not allow this use"},
      {MBEDTLS_X509_BADCERT_EXT_KEY_USAGE, "extended key usage does not allow this use"},
      {MBEDTLS_X509_BADCERT_BAD_MD, "weak or unsupported signature hash"},
      {MBEDTLS_X509_BADCERT_BAD_PK, "unsupported key algorithm"},
      {MBEDTLS_X509_BADCERT_BAD_KEY, "key too weak or curve not allowed"},
  };
  std::string out;
  uint32_t rest = flags;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : "; ") + s; };
  if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) {
    add("name mismatch (expected " + expected_name + ")");
    rest &= ~uint32_t(MBEDTLS_X509_BADCERT_CN_MISMATCH);
  }
  for (const auto& n : kNamed) {
    if (flags & n.flag) {
      add(n.text);
      rest &= ~n.flag;
    }
  }
  if (rest != 0) {
    char buf[512];
    int len = mbedtls_x509_crt_verify_info(buf, sizeof buf, "", rest);
    std::string info = len > 0 ? std::string(buf, size_t(len)) : "unknown reason";
    for (char& c : info) {
      if (c == '\n') c = ' ';
    }
    while (!info.empty() && info.back() == ' ') info.pop_back();
    add(info);
  }
  if (out.empty()) out = "unknown reason";
  return "certificate verify failed: " + out;
}

Fingerprint fingerprint_of(const mbedtls_x509_crt* crt) {
  Fingerprint f{};
  if (crt != nullptr && crt->raw.p != nullptr) mbedtls_sha256(crt->raw.p, crt->raw.len, f.data(), 0);
  return f;
}

std::string common_name_of(const mbedtls_x509_crt* crt) {
  if (crt == nullptr) return {};
  for (const mbedtls_x509_name* n = &crt->subject; n != nullptr; n = n->next) {
    if (n->oid.p != nullptr && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
      return std::string(reinterpret_cast<const char*>(n->val.p), n->val.len);
  }
  return {};
}

}  // namespace ptun::tls::detail
