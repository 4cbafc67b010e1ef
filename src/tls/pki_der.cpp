// Pure parts of the PKI: name checks and the DER of two extensions, subjectAltName and
// extendedKeyUsage, encoded here rather than by mbedTLS 3's setters so the exact DER (entry order,
// IP addresses) is ptun's and unit-tested.
// mbedtls_asn1_write_* write backwards from the end of a buffer, so entries are emitted in
// reverse order to come out in the order given.
#include <mbedtls/asn1write.h>
#include <mbedtls/oid.h>

#include <cstring>

#include "tls/pki.hpp"

namespace ptun::tls::pki {

namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Hostname characters plus '*' (wildcard) and '_' (seen in internal names); the SAN is matched
// by the peer, so this only keeps bytes that are not IA5 or not plausible out of the certificate.
bool is_dns_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxDnsNameLen) return false;
  for (char c : s) {
    if (!is_alnum(c) && c != '.' && c != '-' && c != '_' && c != '*') return false;
  }
  return true;
}

// One TLV written backwards before *p; false if it does not fit (the caller sized the buffer,
// so that would be a bug, but it is still not allowed to write out of bounds).
bool write_tlv(unsigned char** p, unsigned char* start, unsigned char tag, const uint8_t* v,
               size_t n) {
  if (mbedtls_asn1_write_raw_buffer(p, start, v, n) < 0) return false;
  if (mbedtls_asn1_write_len(p, start, n) < 0) return false;
  return mbedtls_asn1_write_tag(p, start, tag) >= 0;
}

}  // namespace

bool is_safe_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLen || name.front() == '.') return false;
  for (char c : name) {
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

Result<std::vector<uint8_t>> encode_subject_alt_name(const std::vector<std::string>& dns_names,
                                                     const std::vector<IpAddr>& ip_addresses) {
  const size_t count = dns_names.size() + ip_addresses.size();
  if (count == 0) return Error(Errc::invalid_argument, "subjectAltName needs at least one entry");
  if (count > kMaxSanEntries) {
    return Error(Errc::invalid_argument,
                 "too many subjectAltName entries (max " + std::to_string(kMaxSanEntries) + ")");
  }
  size_t cap = 8;  // outer SEQUENCE tag + up to 4-byte length, with margin
  for (const auto& d : dns_names) {
    if (!is_dns_name(d)) {
      return Error(Errc::invalid_argument, "bad DNS name for subjectAltName: '" + d + "'");
    }
    cap += d.size() + 4;
  }
  for (const auto& ip : ip_addresses) {
    if (ip.empty()) return Error(Errc::invalid_argument, "empty IP address for subjectAltName");
    cap += ip.size() + 4;
  }

  std::vector<uint8_t> buf(cap);
  unsigned char* start = buf.data();
  unsigned char* p = start + buf.size();
  const unsigned char kDns = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2;  // dNSName [2] IA5String
  const unsigned char kIp = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7;   // iPAddress [7] OCTET STRING
  bool fits = true;
  for (auto it = ip_addresses.rbegin(); fits && it != ip_addresses.rend(); ++it) {
    fits = write_tlv(&p, start, kIp, it->bytes.data(), it->size());
  }
  for (auto it = dns_names.rbegin(); fits && it != dns_names.rend(); ++it) {
    fits = write_tlv(&p, start, kDns, reinterpret_cast<const uint8_t*>(it->data()), it->size());
  }
  const size_t body = size_t(start + buf.size() - p);
  fits = fits && mbedtls_asn1_write_len(&p, start, body) >= 0 &&
         mbedtls_asn1_write_tag(&p, start, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) >= 0;
  if (!fits) return Error(Errc::limit, "subjectAltName does not fit its buffer");
  return std::vector<uint8_t>(p, start + buf.size());
}

std::vector<uint8_t> encode_extended_key_usage(bool server) {
  // MBEDTLS_OID_* are string literals holding the OID's DER content octets; both are 8 bytes, so
  // short-form lengths suffice: SEQUENCE { OBJECT IDENTIFIER }.
  static constexpr char kServer[] = MBEDTLS_OID_SERVER_AUTH;
  static constexpr char kClient[] = MBEDTLS_OID_CLIENT_AUTH;
  static_assert(sizeof kServer == sizeof kClient && sizeof kServer - 1 < 126);
  const char* oid = server ? kServer : kClient;
  const size_t oid_len = sizeof kServer - 1;
  std::vector<uint8_t> der(4 + oid_len);
  der[0] = MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE;
  der[1] = uint8_t(oid_len + 2);
  der[2] = MBEDTLS_ASN1_OID;
  der[3] = uint8_t(oid_len);
  std::memcpy(der.data() + 4, oid, oid_len);
  return der;
}

}  // namespace ptun::tls::pki
