// Inline PEM in a client profile (`ca_pem`, `cert_pem`, `key_pem`): a structural check at config
// load, so that a block broken by copy and paste is reported with the file, line and key instead
// of an mbedTLS code at start. Pure: the DER inside is parsed later by tls::Credentials.
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>

namespace ptun::config {

// `text` must be one or more PEM blocks ("-----BEGIN L-----", base64 lines, "-----END L-----"),
// each label L one of `labels`, separated only by blank lines; the base64 must decode (RFC 7468:
// padding only at the end, no other characters). Returns "" or the reason, naming the block and
// the line of the value ("line 3 of the value: ...").
std::string check_pem(std::string_view text, std::initializer_list<std::string_view> labels);

// Labels accepted for each key.
inline constexpr std::string_view kPemCertificate = "CERTIFICATE";
inline constexpr std::string_view kPemEcKey = "EC PRIVATE KEY";   // what `ptun pki` writes (SEC1)
inline constexpr std::string_view kPemPkcs8Key = "PRIVATE KEY";   // PKCS#8, e.g. from openssl

}  // namespace ptun::config
