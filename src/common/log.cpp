#include "common/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace ptun::log {
namespace {
Level g_level = Level::info;
Style g_style = Style::timestamp;
bool g_style_chosen = false;
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

Style journal_style_for(const char* journal_stream, dev_t dev, ino_t ino) {
  if (!journal_stream) return Style::timestamp;
  unsigned long long d = 0, i = 0;
  char tail = 0;
  if (std::sscanf(journal_stream, "%llu:%llu%c", &d, &i, &tail) != 2) return Style::timestamp;
  return d == static_cast<unsigned long long>(dev) && i == static_cast<unsigned long long>(ino) ? Style::journal
                                                                                                 : Style::timestamp;
}

void set_style(Style s) {
  g_style = s;
  g_style_chosen = true;
}

Style style() {
  if (!g_style_chosen) {
    struct stat st;
    g_style = ::fstat(STDERR_FILENO, &st) == 0 ? journal_style_for(std::getenv("JOURNAL_STREAM"), st.st_dev, st.st_ino)
                                               : Style::timestamp;
    g_style_chosen = true;
  }
  return g_style;
}

size_t format_line(char* out, size_t cap, Level l, Style style, uint64_t realtime_ns, const char* msg) {
  int n;
  if (style == Style::journal) {
    // sd-daemon(3) priorities: error 3, warning 4, info 6, debug 7
    static const int kPriority[] = {3, 4, 6, 7};
    n = std::snprintf(out, cap, "<%d>", kPriority[static_cast<int>(l)]);
  } else {
    time_t secs = static_cast<time_t>(realtime_ns / 1000000000);
    tm t;
    gmtime_r(&secs, &t);
    n = std::snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ %-5s ", t.tm_year + 1900, t.tm_mon + 1,
                      t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, unsigned(realtime_ns / 1000000 % 1000),
                      kNames[static_cast<int>(l)]);
  }
  size_t len = static_cast<size_t>(n);
  // One event, one line: control characters from untrusted input never split a line.
  for (const char* p = msg; *p && len + 1 < cap; ++p)
    out[len++] = static_cast<unsigned char>(*p) < 0x20 ? ' ' : *p;
  out[len++] = '\n';
  return len;
}

void write(Level l, const char* fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char line[1100];
  size_t len = format_line(line, sizeof line, l, style(),
                           uint64_t(ts.tv_sec) * 1000000000 + uint64_t(ts.tv_nsec), msg);
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
