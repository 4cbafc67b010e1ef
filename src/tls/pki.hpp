// ptun's own small certificate authority (`ptun pki init` / `ptun pki issue`), built on mbedTLS's
// X.509 writer so that no openssl is needed on the host.
//
// Layout of a PKI directory (mode 0700):
//   ca.key   ECDSA P-256 CA private key, PEM, mode 0600
//   ca.crt   self-signed CA certificate, PEM
//   NAME.key / NAME.crt   one pair per issued server or client certificate
//
// Everything is ECDSA P-256 with SHA-256 signatures: the curve the DTLS handshake uses, and the
// one every TLS stack (mbedTLS, OpenSSL, Go) verifies. Randomness (keys, serials, ECDSA nonces)
// comes from the injected Rng through a CTR_DRBG.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fingerprint.hpp"
#include "common/net_addr.hpp"
#include "common/result.hpp"
#include "common/rng.hpp"

namespace ptun::tls::pki {

inline constexpr const char* kDefaultCaName = "ptun CA";
inline constexpr uint32_t kCaValidityDays = 3652;      // 10 years, leap days included
inline constexpr uint32_t kDefaultLeafDays = 825;      // the old CA/Browser Forum maximum
inline constexpr uint32_t kMaxLeafDays = 3652;         // a leaf never asks for more than the CA has
inline constexpr size_t kMaxNameLen = 64;              // ub-common-name (RFC 5280)
inline constexpr size_t kMaxSanEntries = 64;           // bound on dns_names + ip_addresses
inline constexpr size_t kMaxDnsNameLen = 253;

struct IssueOptions {
  bool server = false;
  uint32_t days = kDefaultLeafDays;
  // Extra subjectAltName entries. A server certificate always carries DNS:NAME first; a client
  // certificate carries a subjectAltName only if entries are given here.
  std::vector<std::string> dns_names;
  std::vector<IpAddr> ip_addresses;
  // Issue as of this time (unix seconds) instead of the clock's: reproducible certificates (the
  // fuzz fixture's). 0: now.
  int64_t now = 0;
};

// Creates DIR (mode 0700; an existing directory is accepted) holding ca.key (0600) and ca.crt:
// an ECDSA P-256 CA with CN = ca_name, basicConstraints CA:true pathlen 0 (critical), keyUsage
// keyCertSign|cRLSign, subject/authority key identifiers, a random 16-byte serial, valid from
// now-1h for kCaValidityDays.
// Errors: invalid_argument (dir empty; ca_name empty, longer than kMaxNameLen or not printable
// ASCII), exists (DIR/ca.key already exists: a CA is never overwritten), io (mkdir/open/write
// failed, or an mbedTLS call failed; the message says which).
// `now`: as IssueOptions::now (0: the clock).
Result<void> init_ca(const std::string& dir, const std::string& ca_name, Rng& rng, int64_t now = 0);

// Issues DIR/NAME.key (0600) + DIR/NAME.crt signed by the CA in DIR: CN = NAME, ECDSA P-256,
// basicConstraints CA:false, keyUsage digitalSignature, extendedKeyUsage serverAuth (server) or
// clientAuth, subjectAltName (see IssueOptions), subject/authority key identifiers, random
// 16-byte serial, valid from now-1h for opts.days (cut to the CA's own expiry, with a warning).
// Errors: invalid_argument (dir empty; NAME not a safe file name — see is_safe_name — or "ca";
// days 0 or above kMaxLeafDays; a bad SAN entry or too many), exists (NAME.key already exists),
// not_found (no ca.key/ca.crt in DIR), auth (ca.crt is not a CA, does not match ca.key, or has
// expired), unsupported (the CA subject has a multi-valued RDN), io (file or mbedTLS failure).
// On error, no NAME.key or NAME.crt is left behind by this call.
Result<void> issue(const std::string& dir, const std::string& name, const IssueOptions& opts,
                   Rng& rng);

// Creates `path` exclusively (never replacing a file) with mode 0600 whatever the umask, and
// writes `text`; on error nothing is left behind. For private keys and client profiles.
// Errors: exists, io.
Result<void> write_private_file(const std::string& path, std::string_view text);

// A NAME usable as a file name and CN: letters, digits, '.', '_', '-', 1..kMaxNameLen chars,
// not starting with '.'.
bool is_safe_name(std::string_view name);

// DER encodings of two extensions, written by ptun rather than mbedTLS (exposed for tests).
// SubjectAltName ::= SEQUENCE OF GeneralName, dNSName [2] entries first, then iPAddress [7].
// Errors: invalid_argument (no entries, more than kMaxSanEntries, a DNS name that is empty, too
// long or not [A-Za-z0-9.*_-], an IpAddr without family).
Result<std::vector<uint8_t>> encode_subject_alt_name(const std::vector<std::string>& dns_names,
                                                     const std::vector<IpAddr>& ip_addresses);
// ExtKeyUsageSyntax ::= SEQUENCE OF KeyPurposeId: id-kp-serverAuth or id-kp-clientAuth.
std::vector<uint8_t> encode_extended_key_usage(bool server);

// --- revocation (pki_crl.cpp) ----------------------------------------------------------------
// What is revoked lives in DIR/revoked.txt, one "SERIALHEX UNIXTIME NAME" line per certificate,
// so revoking twice changes nothing. DIR/crl.pem is rewritten from it, signed by the CA, valid
// (nextUpdate) until the CA itself expires: mbedTLS refuses every peer once a CRL is past its
// nextUpdate, so a short-lived CRL would lock everybody out the day nobody re-signs it.

struct RevokedEntry {
  std::vector<uint8_t> serial;  // the certificate's INTEGER content octets
  int64_t revoked_at = 0;       // unix seconds
};

// TBSCertList (RFC 5280 5.1) for ecdsa-with-SHA256: version v2, issuer = issuer_der (a whole
// Name, byte-identical to the CA's subject), thisUpdate, nextUpdate, the entries (omitted when
// empty), crlExtensions { cRLNumber }. Pure, exposed for tests.
std::vector<uint8_t> encode_crl_tbs(const std::vector<uint8_t>& issuer_der, int64_t this_update,
                                    int64_t next_update, uint64_t crl_number,
                                    const std::vector<RevokedEntry>& entries);

// Serial as lower-case hex of its content octets; parse accepts hex with optional ':' separators.
std::string serial_hex(const uint8_t* p, size_t n);
Result<std::vector<uint8_t>> parse_serial_hex(std::string_view s);

// Revokes DIR/NAME.crt (when NAME names one) or the certificate with serial SERIAL (hex), then
// rewrites DIR/crl.pem. Returns the serial; *already says it was revoked before (no change).
// Errors: not_found (no such certificate and not a hex serial; no CA), io, auth (see issue()).
Result<std::string> revoke(const std::string& dir, const std::string& name_or_serial,
                           bool* already);

// Rewrites DIR/crl.pem from DIR/revoked.txt (an empty CRL when nothing is revoked).
Result<void> write_crl(const std::string& dir);

struct CertInfo {
  std::string name;    // file stem of DIR/NAME.crt, or "?" for a revoked serial with no file
  std::string serial;  // hex
  int64_t not_after = 0;
  bool revoked = false;
  std::optional<Fingerprint> fingerprint;   // SHA-256 of the DER; nullopt when there is no file
};
// The notAfter of the first certificate in a PEM/DER file, or in `pem` when it is not empty (a
// one-file profile's cert_pem), seconds since the epoch (`ptun doctor`). Errc::io if it does not parse.
Result<int64_t> cert_not_after(const std::string& path, const std::string& pem = {});

// Every DIR/NAME.crt except ca.crt, sorted by name, then revoked serials with no file left.
Result<std::vector<CertInfo>> list(const std::string& dir);

// SHA-256 of the (first) certificate in a PEM or DER file, as `[[peer]] fingerprint` pins it.
// Errors: io (unreadable), invalid_argument (not a certificate).
Result<Fingerprint> cert_fingerprint(const std::string& crt_path);

}  // namespace ptun::tls::pki
