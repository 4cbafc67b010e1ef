#include "metrics/standard.hpp"

#include <string>

#include "common/build_info.hpp"

namespace ptun::metrics {

void add_build_info(Exposition& m, std::string_view mbedtls, std::string_view record_crypto) {
  m.gauge("ptun_build_info", "Always 1; the labels say what was built.", 1,
          Labels{{"version", version()},
                 {"commit", build_commit()},
                 {"mbedtls", std::string(mbedtls)},
                 {"record_crypto", std::string(record_crypto)}});
}

void add_certificate_expiry(Exposition& m, std::string_view kind, std::string_view subject, std::string_view serial,
                            int64_t not_after) {
  m.gauge("ptun_certificate_expiry_timestamp_seconds", "notAfter of a certificate this process holds (unix time).",
          double(not_after),
          Labels{{"kind", std::string(kind)}, {"subject", std::string(subject)}, {"serial", std::string(serial)}});
}

}  // namespace ptun::metrics
