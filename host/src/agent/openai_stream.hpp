// Reading a streamed chat completion (OpenAI's `chat.completion.chunk` objects, one per SSE
// event) as the servers that speak it really send it. Stranger input: never throws, bounds
// what it keeps, and says what was wrong.
//
// What real servers send, besides OpenAI's own shape (every quirk below is in the test
// server's replays, tests/host/test_llm_server.cpp, with its source):
//  - tool_calls deltas without `index` (Ollama before 0.4.7, ollama/ollama#7881): a delta
//    with a function name starts a new call, one without continues the last;
//  - the same `index` for several calls (Ollama's legacy tool path, ollama/ollama#15457,
//    #15497): a delta with an `id` other than the one at its index starts a new call;
//  - a first delta with `index` but no `id` (Ollama with gpt-oss, continuedev/continue#13225):
//    the id comes later or never; a missing one is made up ("call_<n>") at the end;
//  - arguments as a JSON object instead of a string (llama.cpp builds of March 2026,
//    ggml-org/llama.cpp#20198, and TGI, huggingface/text-generation-inference#2136);
//  - a whole call (id, name, all arguments) in one chunk (Ollama: it parses the model's
//    output before sending, ollama/ollama#11633);
//  - two entries with the same index in one chunk (openai/openai-python#3201);
//  - `finish_reason` missing (vLLM 0.9.0, vllm-project/vllm#19650) or "" (Ollama in 2024,
//    ollama/ollama#4357), `"tool_calls": []` on content deltas (vLLM 0.9.0), `"content":
//    null` (llama.cpp's first delta, ggml-org/llama.cpp#14268), `choices` null or missing on
//    the usage chunk (vLLM), `reasoning_content` (llama.cpp, vLLM: never spoken), an
//    `obfuscation` padding member (OpenAI since 2025), `timings` (llama.cpp);
//  - errors inside a 200 stream: `data: {"error": {...}}` (OpenAI, llama.cpp since PR
//    #16109) and llama.cpp's older `error: {...}` SSE field (ggml-org/llama.cpp#16104).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/json.hpp"
#include "parley/result.hpp"
#include "sse_parser.hpp"

namespace parley::host {

struct ChatUsage {
  std::int64_t prompt_tokens = -1;      // -1: the server did not say
  std::int64_t completion_tokens = -1;
};

struct StreamedToolCall {
  std::string id;         // as sent, or "call_<n>" when the server sent none
  std::string name;
  json arguments = json::object();  // parsed; an object
  std::string arguments_text;       // as sent back to the model (JSON text)
  std::string error;                // why the arguments are unusable, or ""
};

// Removes <think>...</think> spans (reasoning models that write their thinking into
// `content`, e.g. Qwen3 behind vLLM, vllm-project/vllm#35705) from text arriving in pieces.
class ThinkFilter {
 public:
  std::string feed(std::string_view piece);
  std::string finish();  // what was held back (a partial tag that never completed)

 private:
  std::string held_;  // a possible partial tag
  bool inside_ = false;
};

class ChatStreamDecoder {
 public:
  static constexpr std::size_t max_tool_calls = 16;
  static constexpr std::size_t max_argument_bytes = 64 * 1024;

  struct Piece {
    std::string content;                       // text to add (thinking removed)
    std::optional<std::string> finish_reason;  // "stop", "length", "tool_calls", ...
    bool done = false;                         // `data: [DONE]`
    std::optional<Error> error;                // the server reported a failure in-stream
  };

  // One SSE event. A chunk that is not JSON or not an object is skipped (counted in
  // bad_chunks(), the first reason kept).
  Piece apply(const SseEvent& event);
  // At the end of the stream (also what a `finish()` of held text gives back).
  std::string finish_content();

  // The calls, in the order they started: ids made up where missing, arguments parsed.
  std::vector<StreamedToolCall> tool_calls() const;
  bool has_tool_calls() const { return !slots_.empty(); }
  const ChatUsage& usage() const { return usage_; }
  std::size_t bad_chunks() const { return bad_chunks_; }
  const std::string& first_problem() const { return first_problem_; }

 private:
  struct Slot {
    std::int64_t index = -1;  // as sent (-1: none)
    std::string id;
    std::string name;
    std::string arguments;    // concatenated string pieces
    json arguments_object;    // an object sent whole (null when none)
    bool truncated = false;
  };
  void apply_tool_call(const json& entry);
  void problem(std::string what);

  std::vector<Slot> slots_;
  ThinkFilter think_;
  ChatUsage usage_;
  std::size_t bad_chunks_ = 0;
  std::string first_problem_;
};

// An upstream error object ({"message","type","code"} or a string) as one line of text.
std::string upstream_error_text(const json& error);

}  // namespace parley::host
