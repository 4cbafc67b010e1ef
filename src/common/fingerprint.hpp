// A certificate fingerprint: SHA-256 of its DER encoding, as `[[peer]] fingerprint` pins it and
// `ptun pki list` / `pki issue` print it. Pure text <-> bytes; the hashing is in tls.
//
// Printed as "sha256:" and 64 lower-case hex digits. Parsed from that, with or without the
// "sha256:" prefix (any case), the hex in either case, optionally as 32 colon-separated pairs
// ("AB:CD:...", as `openssl x509 -fingerprint -sha256` prints it).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ptun {

using Fingerprint = std::array<uint8_t, 32>;

std::string fingerprint_str(const Fingerprint& f);
// "" and *out set, or the reason the text is not a fingerprint.
std::string parse_fingerprint(std::string_view s, Fingerprint* out);

}  // namespace ptun
