// Raw entry points of the ChatLog benchmark's wasm module (bench/chatlog/run.mjs drives them).
// The reply text is copied by JS into a buffer allocated here once, then parsed in place into
// the core's structs, which stay alive until the next parse or release so that freeing them
// is not counted as parsing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "parley/chatlog.hpp"

namespace {

std::optional<parley::ChatLogsReply> g_reply;
std::string g_error;

}  // namespace

extern "C" {

// A buffer of n bytes in the wasm heap for the reply text.
char* chatlog_bench_alloc(std::size_t n) {
  return static_cast<char*>(std::malloc(n));
}
void chatlog_bench_free(char* p) {
  std::free(p);
}

// Parses [text, text + length). Returns the number of chat lines (>= 0), or -1 on an error
// (then chatlog_bench_error() holds the message, NUL-terminated).
int chatlog_bench_parse(const char* text, std::size_t length) {
  g_reply.reset();
  auto parsed = parley::parse_chat_logs_reply(std::string_view(text, length));
  if (!parsed) {
    g_error = parsed.error().code + ": " + parsed.error().message;
    return -1;
  }
  g_reply = std::move(*parsed);
  return static_cast<int>(g_reply->line_count);
}

// Total UTF-8 bytes of the line texts of the last parse: lets the script check the result.
double chatlog_bench_text_bytes() {
  double total = 0;
  if (!g_reply) return -1;
  for (const auto& log : g_reply->chat_logs) {
    for (const auto& line : log.lines) total += static_cast<double>(line.text.size());
  }
  return total;
}

void chatlog_bench_release() {
  g_reply.reset();
}

const char* chatlog_bench_error() {
  return g_error.c_str();
}

}  // extern "C"
