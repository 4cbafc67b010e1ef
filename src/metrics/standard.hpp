// Samples both roles export under the same names: what was built and when the certificates they
// hold expire (alert on `ptun_certificate_expiry_timestamp_seconds - time() < 14 * 86400`).
#pragma once
#include <cstdint>
#include <string_view>

#include "metrics/exposition.hpp"

namespace ptun::metrics {

// ptun_build_info{version,commit,mbedtls,record_crypto} 1
void add_build_info(Exposition& m, std::string_view mbedtls, std::string_view record_crypto);
// ptun_certificate_expiry_timestamp_seconds{kind,subject,serial} notAfter (seconds since the epoch);
// kind "cert" (our own chain) or "ca".
void add_certificate_expiry(Exposition& m, std::string_view kind, std::string_view subject, std::string_view serial,
                            int64_t not_after);

}  // namespace ptun::metrics
