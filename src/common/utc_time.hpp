// UTC calendar <-> unix seconds in 64-bit arithmetic (H. Hinnant's days_from_civil and
// civil_from_days). timegm()/gmtime_r() go through time_t, which is 32 bits on mips/armhf glibc:
// certificates and CRLs routinely run past 2038, where those return -1 or wrap.
#pragma once
#include <cstdint>
#include <string>

namespace ptun {

struct UtcTime {
  int64_t year = 1970;
  int mon = 1, day = 1, hour = 0, min = 0, sec = 0;   // mon 1..12, day 1..31
};

int64_t unix_from_utc(const UtcTime& t);
UtcTime utc_from_unix(int64_t t);
// "YYYY-MM-DD" and "YYYY-MM-DDThh:mm:ssZ".
std::string utc_day_text(int64_t t);
std::string utc_iso_text(int64_t t);

}  // namespace ptun
