// An OpenAI-compatible chat-completions server for the tests (issue 15), on 127.0.0.1 with
// its own io thread: a real HTTP/1.1 server (keep-alive, chunked, Content-Length or
// close-delimited bodies, written piece by piece with delays) that replays streams in the
// exact wire formats of OpenAI, Ollama, llama.cpp's server and vLLM, quirks included, and
// records everything: each request (on which connection), each connection accepted, and when
// a client closed a connection (in the middle of a reply or not).
//
// StreamServer is the HTTP part (any scripted reply); TestLlmHttpServer adds the LLM replays
// (test_llm_server.cpp says where each format and quirk comes from).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "parley/json.hpp"

namespace parley::test {

struct StreamPiece {
  std::uint32_t delay_ms = 0;  // after the previous piece (or the request, for the first)
  std::string bytes;           // body bytes (the framing is added)
  bool cut = false;            // instead of bytes: close the connection now, reply unfinished
};

struct StreamReply {
  enum class Framing { chunked, length, close };
  unsigned status = 200;
  std::string reason = "OK";
  std::vector<std::pair<std::string, std::string>> headers;  // sent as given, in order
  std::vector<StreamPiece> pieces;
  Framing framing = Framing::chunked;
  bool keep_alive = true;  // false: "Connection: close" and close after the reply
  std::uint32_t head_delay_ms = 0;  // before the status line
  bool close_without_reply = false;  // close the connection instead of answering
};

struct SeenRequest {
  std::string method;
  std::string target;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::uint64_t connection = 0;
  double at_ms = 0;  // steady clock, since the server started
  std::string header(const std::string& lower_name) const;
};

struct SeenClose {
  std::uint64_t connection = 0;
  double at_ms = 0;
  bool mid_reply = false;  // the client closed while a reply was still being written
};

class StreamServer {
 public:
  using Handler = std::function<StreamReply(const SeenRequest&)>;
  explicit StreamServer(Handler handler);
  ~StreamServer();
  StreamServer(const StreamServer&) = delete;
  StreamServer& operator=(const StreamServer&) = delete;

  std::uint16_t port() const;
  std::string url(const std::string& path) const;  // "http://127.0.0.1:PORT" + path
  std::vector<SeenRequest> requests() const;
  std::vector<SeenClose> closes() const;
  std::uint64_t connections() const;
  bool wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const;
  bool wait_for_closes(std::size_t count, std::chrono::milliseconds timeout) const;
  // Milliseconds on the server's clock (what at_ms values count from), and that clock's zero.
  double now_ms() const;
  std::chrono::steady_clock::time_point epoch() const;
  // Closes every connection the server holds (as a server whose keep-alive timer fired).
  void close_idle_connections();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// ---- the LLM replays -------------------------------------------------------------------

enum class Wire { openai, ollama, llamacpp, vllm };
const char* wire_name(Wire wire);

struct ToolPlan {
  std::string id;         // the call id the server gives ("" = the server's style)
  std::string name;
  std::string arguments;  // JSON text
};

// What the model "says": text tokens, then tool calls (or neither), and how fast.
struct AnswerPlan {
  std::vector<std::string> tokens;
  std::vector<ToolPlan> tools;
  std::uint32_t first_token_ms = 0;  // delay before the first chunk
  std::uint32_t gap_ms = 0;          // between later chunks
  std::string finish_reason;         // "" = "stop" or "tool_calls"
};

// Quirks a server version really shows (each from a cited source in test_llm_server.cpp).
enum class Quirk {
  none,
  ollama_no_index,          // Ollama < 0.4.7: tool_calls without index (ollama#7881)
  ollama_same_index,        // Ollama: every call index 0 (ollama#15457)
  ollama_index_without_id,  // Ollama gpt-oss: first delta index, no id (continue#13225)
  llamacpp_object_args,     // llama.cpp Mar 2026: arguments as an object (llama.cpp#20198)
  llamacpp_error_field,     // llama.cpp < Sept 2025: `error:` SSE field mid-stream (#16104)
  llamacpp_error_data,      // llama.cpp after #16109: data: {"error": {...}}
  vllm_no_finish_reason,    // vLLM 0.9.0: no finish_reason, "tool_calls": [] (vllm#19650)
  vllm_null_choices,        // vLLM usage chunk with "choices": null
  openai_split_index,       // two entries of one index in the first chunk (openai-python#3201)
  think_tags,               // <think>...</think> in content (Qwen3 behind vLLM, vllm#35705)
  crlf_lines,               // CRLF line ends and ": keep-alive" comments between events
};

// The body pieces of a streamed answer in `wire`'s exact format (one SSE event per piece,
// with the plan's delays), ending in `data: [DONE]`.
std::vector<StreamPiece> sse_answer(Wire wire, const AnswerPlan& plan, Quirk quirk = Quirk::none);
// The whole reply: status 200, the server's headers (Content-Type and the like) and framing.
StreamReply llm_reply(Wire wire, const AnswerPlan& plan, Quirk quirk = Quirk::none);
// Error replies as each server sends them: 401, 404 (model), 429 (with Retry-After), 500.
StreamReply llm_error(Wire wire, unsigned status, std::uint32_t retry_after_s = 0);

// A StreamServer that answers POST /v1/chat/completions from a queue of replies (the last one
// repeats) and 404s anything else.
class TestLlmHttpServer {
 public:
  TestLlmHttpServer();
  void push(StreamReply reply);
  void set(std::vector<StreamReply> replies);
  std::string base_url() const;  // "http://127.0.0.1:PORT/v1"
  StreamServer& http() { return *server_; }
  // The parsed bodies of the chat-completion requests, in order.
  std::vector<json> bodies() const;

 private:
  struct Queue;
  std::shared_ptr<Queue> queue_;
  std::unique_ptr<StreamServer> server_;
};

}  // namespace parley::test
