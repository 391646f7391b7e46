// An LLM server's streamed answer comes from a stranger (DESIGN §9): any bytes, split
// anywhere. The SSE parser must give the same events however the bytes are split, bound what
// it keeps, and never crash; the chunk decoder and its tool-call assembly must take any event
// without throwing and keep their bounds; the sentence splitter must give back every
// non-space byte it was fed, in order.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "agent/openai_stream.hpp"
#include "agent/sentence_splitter.hpp"
#include "agent/sse_parser.hpp"

using namespace parley::host;

namespace {

struct Seen {
  std::vector<SseEvent> events;
  bool ok = true;
};

Seen parse(std::string_view bytes, std::size_t step) {
  Seen seen;
  SseParser parser(4096);
  auto on = [&](SseEvent& e) { seen.events.push_back(e); };
  for (std::size_t i = 0; i < bytes.size() && seen.ok; i += step) {
    seen.ok = parser.feed(bytes.substr(i, step), on).ok();
  }
  if (seen.ok) parser.finish(on);
  return seen;
}

bool same(const SseEvent& a, const SseEvent& b) {
  return a.type == b.type && a.data == b.data && a.id == b.id && a.error == b.error;
}

std::string squeeze(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f') out += c;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t step = 1 + data[0] % 17;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);

  Seen whole = parse(bytes, bytes.size() + 1);
  Seen split = parse(bytes, step);
  // A limit broken in one split may be reached at another point in the other; only when both
  // read everything must they agree event for event.
  if (whole.ok && split.ok) {
    if (whole.events.size() != split.events.size()) std::abort();
    for (std::size_t i = 0; i < whole.events.size(); ++i) {
      if (!same(whole.events[i], split.events[i])) std::abort();
    }
  }
  for (const auto& e : whole.events) {
    if (e.data.size() > 4096 || e.error.size() > 4096) std::abort();
  }

  ChatStreamDecoder decoder;
  std::string content;
  for (const auto& e : split.events) content += decoder.apply(e).content;
  content += decoder.finish_content();
  // Also every event's data as a chunk of its own, and the whole input as one.
  SseEvent raw;
  raw.data = std::string(bytes);
  content += decoder.apply(raw).content;
  auto calls = decoder.tool_calls();
  if (calls.size() > ChatStreamDecoder::max_tool_calls) std::abort();
  for (const auto& c : calls) {
    if (c.id.empty() || !c.arguments.is_object()) std::abort();
  }

  SentenceSplitter splitter(64);
  std::string out;
  for (std::size_t i = 0; i < content.size(); i += step) {
    for (const auto& s : splitter.feed(std::string_view(content).substr(i, step))) {
      if (s.empty()) std::abort();
      out += s;
    }
  }
  out += splitter.finish();
  if (squeeze(out) != squeeze(content)) std::abort();
  return 0;
}
