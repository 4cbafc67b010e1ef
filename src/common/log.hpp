// Logging: one line per event to stderr, levels error..debug. printf-style (g++ 12 has no
// std::format). Never pass secrets (keys, session keys, passwords) to these functions.
// Under systemd (stderr is the journal stream named by JOURNAL_STREAM) a line is "<N>message":
// the syslog priority as sd-daemon(3) prefixes it, no timestamp (journald keeps its own).
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace ptun::log {

enum class Level { error = 0, warn = 1, info = 2, debug = 3 };
// timestamp: "2026-12-03T16:26:37.123Z info  message"; journal: "<6>message".
enum class Style { timestamp, journal };

void set_level(Level l);
Level level();
// Parses "error", "warn", "info", "debug"; returns false if unknown.
bool parse_level(const char* s, Level* out);
// The style is chosen on first use from the environment (journal_style_for); tests set it.
void set_style(Style s);
Style style();
// journal if `journal_stream` (JOURNAL_STREAM's value, "DEV:INODE", may be null) names the file
// `dev`/`ino` (stderr's): systemd's check, so a child whose stderr was redirected keeps timestamps.
Style journal_style_for(const char* journal_stream, dev_t dev, ino_t ino);
// Formats one line into out[cap] (cap >= 64), newline-terminated: the prefix of `style`, then
// `msg` with control characters replaced by spaces and cut to fit. `realtime_ns`: wall clock,
// used by Style::timestamp only. Returns the length written.
size_t format_line(char* out, size_t cap, Level l, Style style, uint64_t realtime_ns, const char* msg);
void write(Level l, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define PTUN_LOG(lvl, ...)                                               \
  do {                                                                   \
    if (static_cast<int>(lvl) <= static_cast<int>(::ptun::log::level())) \
      ::ptun::log::write(lvl, __VA_ARGS__);                              \
  } while (0)
#define LOG_ERROR(...) PTUN_LOG(::ptun::log::Level::error, __VA_ARGS__)
#define LOG_WARN(...) PTUN_LOG(::ptun::log::Level::warn, __VA_ARGS__)
#define LOG_INFO(...) PTUN_LOG(::ptun::log::Level::info, __VA_ARGS__)
#define LOG_DEBUG(...) PTUN_LOG(::ptun::log::Level::debug, __VA_ARGS__)

// Rate limiter for logs an attacker can trigger: at most `burst` lines per `interval_ms`,
// then silence (with a count of suppressed lines reported on the next allowed line).
class RateLimit {
 public:
  explicit RateLimit(uint64_t interval_ms = 5000, uint32_t burst = 1)
      : interval_ms_(interval_ms), burst_(burst) {}
  // True if a line may be written now; `suppressed` receives how many were dropped since.
  bool allow(uint64_t now_ms, uint64_t* suppressed);

 private:
  uint64_t interval_ms_;
  uint32_t burst_;
  uint64_t window_start_ = 0;
  uint32_t used_ = 0;
  uint64_t suppressed_ = 0;
  bool started_ = false;
};

}  // namespace ptun::log
