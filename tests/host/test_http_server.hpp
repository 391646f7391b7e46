// Small real servers for the agent tests, each on 127.0.0.1 (port 0 = ephemeral, or a given
// port to come back "up" where it was "down") with its own io thread.
//
//   TestHttpServer  HTTP/1.1: scripted replies per path (status, body, delay; a list is
//                   consumed in order, its last entry repeating), 404 for unscripted paths,
//                   records every request.
//   TestLlmServer   WebSocket: hands every received text message (parsed JSON) to a handler
//                   that returns the frames to send back (each with a delay); records messages.
//
// The servers run on their own thread, so the accessors lock; tests read them from the test
// thread. Destructors stop the server and join the thread (bounded: all waits end).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "parley/host/config.hpp"
#include "parley/json.hpp"

namespace parley::test {

struct ScriptedReply {
  unsigned status = 200;
  std::string body = "{}";
  std::uint32_t delay_ms = 0;  // wait this long before answering
  std::string content_type = "application/json";
};

struct RecordedRequest {
  std::string method;
  std::string target;
  std::string body;
  std::map<std::string, std::string> headers;  // names lowercased
  std::int64_t received_ms = 0;                // steady clock, ms since the server started
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class TestHttpServer {
 public:
  explicit TestHttpServer(std::uint16_t port = 0);
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  std::uint16_t port() const;
  std::string url(const std::string& path) const;  // "http://127.0.0.1:PORT" + path
  void script(const std::string& path, ScriptedReply reply);
  void script(const std::string& path, std::vector<ScriptedReply> replies);
  std::vector<RecordedRequest> requests() const;
  std::vector<RecordedRequest> requests_to(const std::string& path) const;
  // Waits until at least `count` requests arrived (any path), at most `timeout`.
  bool wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// A frame the LLM server sends: after `delay_ms` (counted from the previous frame).
struct LlmFrame {
  std::uint32_t delay_ms = 0;
  std::string text;   // sent as a text frame as is (need not be JSON)
  bool close = false; // instead of text: close the socket (normal closure)
};

class TestLlmServer {
 public:
  using Handler = std::function<std::vector<LlmFrame>(const json& message)>;
  // `handler` runs on the server thread for every text message (non-JSON → null).
  explicit TestLlmServer(Handler handler);
  ~TestLlmServer();
  TestLlmServer(const TestLlmServer&) = delete;
  TestLlmServer& operator=(const TestLlmServer&) = delete;

  std::uint16_t port() const;
  std::string url(const std::string& path = "/llm") const;  // "ws://127.0.0.1:PORT/llm"
  std::vector<json> messages() const;                       // everything received, in order
  bool wait_for_messages(std::size_t count, std::chrono::milliseconds timeout) const;
  std::size_t connections() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// {"type":"stream_response","data":{"stream_id":ID,"content":TEXT,"end_of_stream":END}}
std::string stream_response(const json& stream_id, const std::string& content, bool end);

// A port nothing listens on (bound, then released; good for "the receiver is down").
std::uint16_t unused_port();

// ---- helpers for the agent tests -------------------------------------------------------

// Runs `io` (the host side, on the test thread) until `done()` or `timeout`; true if done.
template <class Predicate>
bool run_until(boost::asio::io_context& io, Predicate done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (io.stopped()) io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

// An AgentConfig from a vector: id, prompt, fallback_reply, rules [{words, pattern, reply,
// tool, tool_arguments}], tools [{name, parameters}] (their webhook URLs are set by tests).
host::AgentConfig agent_from_vector(const json& v);

}  // namespace parley::test
