#include "common/utc_time.hpp"

#include <cstdio>

namespace ptun {

int64_t unix_from_utc(const UtcTime& t) {
  int64_t y = t.year - (t.mon <= 2 ? 1 : 0);
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (t.mon + (t.mon > 2 ? -3 : 9)) + 2) / 5 + t.day - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = era * 146097 + doe - 719468;
  return days * 86400 + int64_t(t.hour) * 3600 + int64_t(t.min) * 60 + t.sec;
}

UtcTime utc_from_unix(int64_t t) {
  int64_t days = (t >= 0 ? t : t - 86399) / 86400;   // floor
  int64_t secs = t - days * 86400;
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  UtcTime u;
  u.day = int(doy - (153 * mp + 2) / 5 + 1);
  u.mon = int(mp < 10 ? mp + 3 : mp - 9);
  u.year = yoe + era * 400 + (u.mon <= 2 ? 1 : 0);
  u.hour = int(secs / 3600);
  u.min = int(secs / 60 % 60);
  u.sec = int(secs % 60);
  return u;
}

std::string utc_day_text(int64_t t) {
  UtcTime u = utc_from_unix(t);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04lld-%02d-%02d", (long long)u.year, u.mon, u.day);
  return buf;
}

std::string utc_iso_text(int64_t t) {
  UtcTime u = utc_from_unix(t);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)u.year, u.mon, u.day, u.hour,
                u.min, u.sec);
  return buf;
}

}  // namespace ptun
