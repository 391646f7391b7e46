// One line per event on stderr: "2026-11-23T10:00:00.123Z info  call.start session=1a2b3c4d… agent=demo".
// Session ids are shortened (short_id) by the callers; never log a whole id or a token.
#pragma once

#include <string_view>

namespace parley::host {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

void set_log_level(LogLevel level);
bool parse_log_level(std::string_view text, LogLevel* out);
bool log_enabled(LogLevel level);
// `event` is a dotted name ("http.request", "call.end"); `details` free text (key=value ...).
void log_event(LogLevel level, std::string_view event, std::string_view details);

}  // namespace parley::host
