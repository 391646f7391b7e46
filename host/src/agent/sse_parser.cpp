#include "sse_parser.hpp"

#include <utility>

namespace parley::host {

SseParser::SseParser(std::size_t max_event_bytes)
    : max_event_bytes_(max_event_bytes == 0 ? 1 : max_event_bytes) {}

Status SseParser::feed(std::string_view bytes, const std::function<void(SseEvent&)>& on_event) {
  if (failed_) return make_error("sse_too_large", "the event stream was refused earlier");
  if (at_start_ && !bytes.empty()) {
    // A UTF-8 BOM may start the stream (it can arrive split over pieces: keep what we have).
    static constexpr std::string_view bom = "\xEF\xBB\xBF";
    std::string head = line_ + std::string(bytes.substr(0, bom.size()));
    if (head.size() < bom.size() && bom.substr(0, head.size()) == head) {
      line_ = head;  // not enough bytes yet to know
      return ok_status();
    }
    at_start_ = false;
    if (head.compare(0, bom.size(), bom) == 0) {
      const std::size_t from_piece = bom.size() - line_.size();
      line_.clear();
      bytes.remove_prefix(from_piece);
    } else if (!line_.empty()) {
      std::string pending = std::move(line_);  // held back as a possible BOM: plain bytes
      line_.clear();
      if (auto s = feed(pending, on_event); !s) return s;
    }
  }
  std::size_t start = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (c != '\r' && c != '\n') {
      after_cr_ = false;
      continue;
    }
    if (c == '\n' && after_cr_ && i == start && line_.empty()) {
      after_cr_ = false;  // the LF of a CRLF whose CR ended the previous line
      start = i + 1;
      continue;
    }
    after_cr_ = c == '\r';
    if (line_.empty()) {
      line(bytes.substr(start, i - start), on_event);
    } else {
      line_.append(bytes.substr(start, i - start));
      std::string whole = std::move(line_);
      line_.clear();
      line(whole, on_event);
    }
    if (failed_) return make_error("sse_too_large", "an event is larger than " +
                                                        std::to_string(max_event_bytes_) +
                                                        " bytes");
    start = i + 1;
  }
  line_.append(bytes.substr(start));
  if (line_.size() + event_bytes_ > max_event_bytes_) {
    failed_ = true;
    return make_error("sse_too_large",
                      "an event is larger than " + std::to_string(max_event_bytes_) + " bytes");
  }
  return ok_status();
}

void SseParser::line(std::string_view text, const std::function<void(SseEvent&)>& on_event) {
  if (text.empty()) return dispatch(on_event);
  if (text.front() == ':') return;  // a comment
  std::string_view field = text;
  std::string_view value;
  if (auto colon = text.find(':'); colon != std::string_view::npos) {
    field = text.substr(0, colon);
    value = text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  event_bytes_ += text.size() + 1;
  if (event_bytes_ > max_event_bytes_) {
    failed_ = true;
    return;
  }
  if (field == "data") {
    if (has_data_) event_.data += '\n';
    event_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    event_.type.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) event_.id.assign(value);
  } else if (field == "error") {
    if (!event_.error.empty()) event_.error += '\n';
    event_.error.append(value);
  }
  // "retry" and unknown fields: nothing to do for a client that does not reconnect.
}

void SseParser::dispatch(const std::function<void(SseEvent&)>& on_event) {
  if (has_data_ || !event_.error.empty()) {
    ++events_;
    if (on_event) on_event(event_);
  }
  // The id persists between events per the standard; type and data do not.
  std::string id = std::move(event_.id);
  event_ = SseEvent{};
  event_.id = std::move(id);
  has_data_ = false;
  event_bytes_ = 0;
}

void SseParser::finish(const std::function<void(SseEvent&)>& on_event) {
  if (failed_) return;
  if (!line_.empty()) {
    std::string last = std::move(line_);
    line_.clear();
    line(last, on_event);
    if (failed_) return;
  }
  dispatch(on_event);
}

}  // namespace parley::host
