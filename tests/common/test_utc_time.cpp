// 64-bit UTC calendar: exact values either side of 2038 and a round trip over four centuries.
#include <catch2/catch.hpp>

#include "common/utc_time.hpp"

using namespace ptun;

TEST_CASE("UTC calendar to unix seconds and back, past 2038 on every target", "[utc]") {
  CHECK(unix_from_utc({1970, 1, 1, 0, 0, 0}) == 0);
  CHECK(unix_from_utc({2038, 1, 19, 3, 14, 8}) == 2147483648LL);
  CHECK(unix_from_utc({2050, 1, 1, 0, 0, 0}) == 2524608000LL);
  CHECK(utc_day_text(2147483648LL) == "2038-01-19");
  CHECK(utc_iso_text(2524608000LL + 3723) == "2050-01-01T01:02:03Z");
  CHECK(utc_iso_text(253402300799LL) == "9999-12-31T23:59:59Z");
  CHECK(utc_iso_text(-1) == "1969-12-31T23:59:59Z");
  for (int64_t t = -86400LL * 365 * 100; t < 86400LL * 365 * 300; t += 86400LL * 97 + 3607) {
    UtcTime u = utc_from_unix(t);
    REQUIRE(unix_from_utc(u) == t);
  }
}
