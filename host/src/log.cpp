// One line per event on stderr (log.hpp). Each line is formatted in full first and handed to
// the kernel with as few write(2) calls as it takes (normally one), so lines from different
// threads (tests run a server thread next to the test thread) never interleave mid-line.
#include "parley/host/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace parley::host {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::info)};

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info ";
    case LogLevel::warn: return "warn ";
    case LogLevel::error: return "error";
  }
  return "?    ";
}

// "2026-11-23T10:00:00.123Z": ISO 8601, UTC, milliseconds.
std::string utc_timestamp() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  const std::time_t seconds = system_clock::to_time_t(now);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  const int n = std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                              parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                              parts.tm_hour, parts.tm_min, parts.tm_sec, static_cast<int>(millis));
  return std::string(text, n > 0 ? static_cast<std::size_t>(n) : 0);
}

void write_all(const std::string& line) {
  const char* data = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t written = ::write(STDERR_FILENO, data, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      return;  // stderr is gone: logging must never take the host down
    }
    data += written;
    left -= static_cast<std::size_t>(written);
  }
}

}  // namespace

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool parse_log_level(std::string_view text, LogLevel* out) {
  static constexpr std::pair<std::string_view, LogLevel> names[] = {
      {"debug", LogLevel::debug}, {"info", LogLevel::info},
      {"warn", LogLevel::warn},   {"warning", LogLevel::warn},
      {"error", LogLevel::error}};
  for (const auto& [name, level] : names) {
    if (name == text) {
      if (out != nullptr) *out = level;
      return true;
    }
  }
  return false;
}

bool log_enabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

void log_event(LogLevel level, std::string_view event, std::string_view details) {
  if (!log_enabled(level)) return;
  std::string line = utc_timestamp();
  line += ' ';
  line += level_name(level);
  line += ' ';
  line += event;
  if (!details.empty()) {
    line += ' ';
    // A line is one event: control characters from stranger-supplied details (paths,
    // reasons) must not forge extra lines.
    for (const char c : details) line += (c == '\n' || c == '\r') ? ' ' : c;
  }
  line += '\n';
  write_all(line);
}

}  // namespace parley::host
