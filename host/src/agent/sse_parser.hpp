// Server-sent events (the WHATWG HTML "event stream" format, text/event-stream), as the LLM
// servers send their streamed answers. A parser of stranger input: it never throws, keeps at
// most max_event_bytes of one event, and says what is wrong when a stream breaks a limit.
//
// Fed bytes in any split: lines end in CRLF, LF or CR (a CR at the end of one piece and an
// LF at the start of the next are one line end); a leading UTF-8 BOM is skipped; a line
// starting with ':' is a comment (keep-alive pings); "field: value" drops one space after
// the colon; a line without a colon is a field with an empty value; "data" lines of one event
// are joined with "\n"; a blank line dispatches the event (an event with no data line is
// not dispatched, as the standard says).
//
// Beyond the standard: llama.cpp's server (builds before PR #16109, Sept 2025; issue #16104)
// reported a failure mid-stream as an `error:` field, which standard parsers drop. It is
// kept in SseEvent::error, and an event that carries one is dispatched even without data.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "parley/result.hpp"

namespace parley::host {

struct SseEvent {
  std::string type;   // the "event" field, "" = message
  std::string data;   // the data lines joined by "\n"
  std::string id;
  std::string error;  // llama.cpp's non-standard `error:` field, "" when absent
};

class SseParser {
 public:
  explicit SseParser(std::size_t max_event_bytes = 1024 * 1024);

  // Feeds bytes; `on_event` runs for each complete event, in order. After an error
  // ("sse_too_large": an event or a line over the limit) the parser refuses further input.
  Status feed(std::string_view bytes, const std::function<void(SseEvent&)>& on_event);
  // The stream ended. A last event whose blank line never came is dispatched when it has
  // data (servers that close right after `data: [DONE]\n` exist); a partial line counts.
  void finish(const std::function<void(SseEvent&)>& on_event);

  std::size_t events() const { return events_; }

 private:
  void line(std::string_view text, const std::function<void(SseEvent&)>& on_event);
  void dispatch(const std::function<void(SseEvent&)>& on_event);

  std::size_t max_event_bytes_;
  std::string line_;          // the line being read
  SseEvent event_;            // the event being built
  bool has_data_ = false;
  bool after_cr_ = false;     // the last byte was a CR (an LF next is part of that line end)
  bool at_start_ = true;      // for the BOM
  bool failed_ = false;
  std::size_t event_bytes_ = 0;
  std::size_t events_ = 0;
};

}  // namespace parley::host
