#include "common/log.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace ptun::log {
namespace {
Level g_level = Level::info;
const char* const kNames[] = {"error", "warn", "info", "debug"};
}  // namespace

void set_level(Level l) { g_level = l; }
Level level() { return g_level; }

bool parse_level(const char* s, Level* out) {
  for (int i = 0; i < 4; ++i) {
    if (std::strcmp(s, kNames[i]) == 0) {
      *out = static_cast<Level>(i);
      return true;
    }
  }
  return false;
}

void write(Level l, const char* fmt, ...) {
  char line[1024];
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  int n = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                        t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                        ts.tv_nsec / 1000000, kNames[static_cast<int>(l)]);
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  va_end(ap);
  size_t len = n + (m < 0 ? 0 : (static_cast<size_t>(m) < sizeof line - n - 1 ? m : sizeof line - n - 2));
  // One event, one line: control characters from untrusted input never split a line.
  for (size_t i = n; i < len; ++i) {
    if (static_cast<unsigned char>(line[i]) < 0x20) line[i] = ' ';
  }
  line[len++] = '\n';
  fwrite(line, 1, len, stderr);
}

bool RateLimit::allow(uint64_t now_ms, uint64_t* suppressed) {
  if (!started_ || now_ms - window_start_ >= interval_ms_) {
    started_ = true;
    window_start_ = now_ms;
    used_ = 0;
  }
  if (used_ < burst_) {
    ++used_;
    if (suppressed) *suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }
  ++suppressed_;
  return false;
}

}  // namespace ptun::log
