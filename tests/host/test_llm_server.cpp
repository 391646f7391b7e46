// The tests' OpenAI-compatible server (see the header). The HTTP side is written by hand on
// Asio so that every byte of framing is the test's choice; the replays below follow what each
// server really sends, with the source of every shape and quirk.
#include "test_llm_server.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace parley::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string hex(std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), digits[n % 16]);
    n /= 16;
  } while (n > 0);
  return out;
}

}  // namespace

std::string SeenRequest::header(const std::string& lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

struct StreamServer::Impl {
  asio::io_context io;
  std::thread thread;
  tcp::acceptor acceptor{io};
  Handler handler;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::vector<SeenRequest> seen;
  std::vector<SeenClose> seen_closes;
  std::uint64_t accepted = 0;

  struct Conn;
  std::vector<std::weak_ptr<Conn>> conns;  // io thread only

  double now_ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
        .count();
  }

  void accept();

  struct Conn : std::enable_shared_from_this<Conn> {
    Conn(Impl* s, tcp::socket sock, std::uint64_t n)
        : server(s), socket(std::move(sock)), timer(server->io), id(n) {}
    Impl* server;
    tcp::socket socket;
    asio::steady_timer timer;
    std::uint64_t id;
    beast::flat_buffer buffer;
    std::optional<http::request_parser<http::string_body>> parser;
    std::deque<SeenRequest> waiting;
    bool replying = false;
    bool closed = false;
    StreamReply reply;
    std::size_t next = 0;

    void read() {
      parser.emplace();
      parser->body_limit(64 * 1024 * 1024);
      auto self = shared_from_this();
      http::async_read(socket, buffer, *parser, [self](beast::error_code ec, std::size_t) {
        self->on_read(ec);
      });
    }

    void on_read(beast::error_code ec) {
      if (closed) return;
      if (ec) {
        // The client went: record when, and whether a reply was still being written.
        closed = true;
        {
          std::lock_guard<std::mutex> lock(server->mutex);
          server->seen_closes.push_back(SeenClose{id, server->now_ms(), replying});
        }
        server->changed.notify_all();
        timer.cancel();
        beast::error_code ignored;
        socket.close(ignored);
        return;
      }
      auto message = parser->release();
      SeenRequest request;
      request.method = std::string(message.method_string());
      request.target = std::string(message.target());
      request.body = message.body();
      for (const auto& field : message) {
        request.headers.emplace_back(lower(std::string(field.name_string())),
                                     std::string(field.value()));
      }
      request.connection = id;
      request.at_ms = server->now_ms();
      {
        std::lock_guard<std::mutex> lock(server->mutex);
        server->seen.push_back(request);
      }
      server->changed.notify_all();
      waiting.push_back(std::move(request));
      read();  // an end of the connection while the reply is written shows here
      if (!replying) next_request();
    }

    void next_request() {
      if (waiting.empty() || closed) return;
      SeenRequest request = std::move(waiting.front());
      waiting.pop_front();
      reply = server->handler(request);
      replying = true;
      next = 0;
      auto self = shared_from_this();
      timer.expires_after(std::chrono::milliseconds(reply.head_delay_ms));
      timer.async_wait([self](beast::error_code ec) {
        if (ec || self->closed) return;
        if (self->reply.close_without_reply) return self->close_now();
        self->write_head();
      });
    }

    void write_head() {
      std::string head = "HTTP/1.1 " + std::to_string(reply.status) + " " + reply.reason + "\r\n";
      for (const auto& [name, value] : reply.headers) head += name + ": " + value + "\r\n";
      if (reply.framing == StreamReply::Framing::chunked) {
        head += "Transfer-Encoding: chunked\r\n";
      } else if (reply.framing == StreamReply::Framing::length) {
        std::size_t total = 0;
        for (const auto& p : reply.pieces) total += p.bytes.size();
        head += "Content-Length: " + std::to_string(total) + "\r\n";
      }
      if (!reply.keep_alive || reply.framing == StreamReply::Framing::close) {
        head += "Connection: close\r\n";
      }
      head += "\r\n";
      write(std::move(head), [](Conn& c) { c.pump(); });
    }

    void write(std::string bytes, void (*then)(Conn&)) {
      auto data = std::make_shared<std::string>(std::move(bytes));
      auto self = shared_from_this();
      asio::async_write(socket, asio::buffer(*data),
                        [self, data, then](beast::error_code ec, std::size_t) {
                          if (ec || self->closed) return;
                          then(*self);
                        });
    }

    void pump() {
      if (closed) return;
      if (next >= reply.pieces.size()) return finish_reply();
      auto self = shared_from_this();
      timer.expires_after(std::chrono::milliseconds(reply.pieces[next].delay_ms));
      timer.async_wait([self](beast::error_code ec) {
        if (ec || self->closed) return;
        StreamPiece& piece = self->reply.pieces[self->next++];
        if (piece.cut) return self->close_now();
        if (piece.bytes.empty()) return self->pump();
        std::string framed = piece.bytes;
        if (self->reply.framing == StreamReply::Framing::chunked) {
          framed = hex(piece.bytes.size()) + "\r\n" + piece.bytes + "\r\n";
        }
        self->write(std::move(framed), [](Conn& c) { c.pump(); });
      });
    }

    void finish_reply() {
      if (reply.framing == StreamReply::Framing::chunked) {
        write("0\r\n\r\n", [](Conn& c) { c.reply_done(); });
      } else {
        reply_done();
      }
    }

    void reply_done() {
      replying = false;
      if (!reply.keep_alive || reply.framing == StreamReply::Framing::close) return close_now();
      next_request();
    }

    // The server's own close (not recorded as the client's).
    void close_now() {
      closed = true;
      replying = false;
      timer.cancel();
      beast::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
    }
  };
};

void StreamServer::Impl::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec) return;
    std::uint64_t n;
    {
      std::lock_guard<std::mutex> lock(mutex);
      n = ++accepted;
    }
    changed.notify_all();
    auto conn = std::make_shared<Conn>(this, std::move(socket), n);
    conns.push_back(conn);
    conn->read();
    accept();
  });
}

StreamServer::StreamServer(Handler handler) : impl_(std::make_shared<Impl>()) {
  impl_->handler = std::move(handler);
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  impl_->accept();
  impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
}

StreamServer::~StreamServer() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::uint16_t StreamServer::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string StreamServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port()) + path;
}

std::vector<SeenRequest> StreamServer::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->seen;
}

std::vector<SeenClose> StreamServer::closes() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->seen_closes;
}

std::uint64_t StreamServer::connections() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->accepted;
}

bool StreamServer::wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->seen.size() >= count; });
}

bool StreamServer::wait_for_closes(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout,
                                 [&] { return impl_->seen_closes.size() >= count; });
}

double StreamServer::now_ms() const { return impl_->now_ms(); }

std::chrono::steady_clock::time_point StreamServer::epoch() const { return impl_->started; }

void StreamServer::close_idle_connections() {
  std::mutex done_mutex;
  std::condition_variable done_cv;
  bool done = false;
  asio::post(impl_->io, [&] {
    for (auto& weak : impl_->conns) {
      if (auto c = weak.lock(); c && !c->replying && !c->closed) c->close_now();
    }
    std::lock_guard<std::mutex> lock(done_mutex);
    done = true;
    done_cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(done_mutex);
  done_cv.wait_for(lock, std::chrono::seconds(5), [&] { return done; });
}

// ---- the LLM replays -----------------------------------------------------------------------
//
// Sources of the shapes (member order as those servers write it):
//  OpenAI: a chunk captured from api.openai.com in ENTERPILOT/GoModel's contract test data
//    (tests/contract/testdata/openai/chat_completion_stream.txt, Jan 2026): id, object,
//    created, model, service_tier, system_fingerprint, choices[{index, delta, logprobs,
//    finish_reason}], obfuscation; `usage: null` in every chunk and a last chunk with
//    `choices: []` and the usage when stream_options.include_usage is set (the
//    ChatCompletionStreamOptions description in openai/openai-openapi); tool-call deltas
//    with id and name first, then `arguments` pieces without id (sashabaranov/go-openai#911).
//  Ollama: openai/openai.go in ollama/ollama (ChatCompletionChunk, ToToolCalls: every delta
//    carries role and content, system_fingerprint "fp_ollama", each tool call whole with its
//    arguments JSON-encoded); before 0.4.7 ToolCall had no Index (ollama#7881); the legacy
//    tool path gives every call index 0 (ollama#15457, #15497); gpt-oss streams a first
//    delta with index and no id (continuedev/continue#13225).
//  llama.cpp's server: tools/server/server-task.cpp (to_json_oaicompat_chat_stream: choices,
//    created, id, model, system_fingerprint, object; a final chunk with an empty delta, the
//    usage chunk with `timings`) and common/chat.cpp (common_chat_msg_diff_to_json_oaicompat:
//    tool deltas index, id, type, function {name, arguments}); the first delta's `content:
//    null` and `model: ""` (ggml-org/llama.cpp#14268); arguments as an object (#20198); the
//    `error:` SSE field before PR #16109 (#16104; the exact lines in coddy-agent#106), then
//    `data: {"error": {...}}`.
//  vLLM: streams quoted in vllm-project/vllm#19662, #19650, #27572: id, object, created, model,
//    choices[{index, delta, logprobs, finish_reason}], `stop_reason` on the last choice, tool
//    ids "chatcmpl-tool-<hex>" with the name alone first; 0.9.0 dropped finish_reason and
//    added `"tool_calls": []` to content deltas (#19650); usage chunks with `choices: null`
//    (as the openai-interface crate documents for vLLM); `<think>` in content (#35705).

const char* wire_name(Wire wire) {
  switch (wire) {
    case Wire::openai: return "openai";
    case Wire::ollama: return "ollama";
    case Wire::llamacpp: return "llama.cpp";
    case Wire::vllm: return "vllm";
  }
  return "?";
}

namespace {

std::string q(const std::string& text) { return to_json_text(json(text)); }

struct Event {
  std::string text;  // the whole event, framing included
};

class Replay {
 public:
  Replay(Wire wire, const AnswerPlan& plan, Quirk quirk) : wire_(wire), plan_(plan), quirk_(quirk) {}

  std::vector<StreamPiece> pieces() {
    build();
    std::vector<StreamPiece> out;
    for (std::size_t i = 0; i < events_.size(); ++i) {
      StreamPiece p;
      // The opening chunk (role only) comes with the first token, as servers send them.
      p.delay_ms = i == 0 ? plan_.first_token_ms : (i <= opening_events_ ? 0 : plan_.gap_ms);
      p.bytes = events_[i];
      out.push_back(std::move(p));
    }
    return out;
  }

 private:
  std::string eol() const { return quirk_ == Quirk::crlf_lines ? "\r\n" : "\n"; }

  void data(const std::string& json_text) {
    std::string e;
    if (quirk_ == Quirk::crlf_lines && !events_.empty()) e += ": keep-alive" + eol() + eol();
    e += "data: " + json_text + eol() + eol();
    events_.push_back(std::move(e));
  }

  // One chunk in the wire's member order. `delta` and `finish` are JSON text.
  std::string chunk(const std::string& delta, const std::string& finish, bool last = false) {
    switch (wire_) {
      case Wire::openai:
        return R"({"id":"chatcmpl-D0q8CZXN1uEzngZGkU7FuV92lnXWq","object":"chat.completion.chunk",)"
               R"("created":1769092764,"model":"gpt-4o-mini-2024-07-18","service_tier":"default",)"
               R"("system_fingerprint":"fp_29330a9688","choices":[{"index":0,"delta":)" +
               delta + R"(,"logprobs":null,"finish_reason":)" + finish +
               R"(}],"usage":null,"obfuscation":")" + obfuscation() + R"("})";
      case Wire::ollama:
        return R"({"id":"chatcmpl-537","object":"chat.completion.chunk","created":1721830176,)"
               R"("model":"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,)"
               R"("delta":)" + delta + R"(,"finish_reason":)" + finish + "}]}";
      case Wire::llamacpp:
        return R"({"choices":[{"finish_reason":)" + finish + R"(,"index":0,"delta":)" + delta +
               R"(}],"created":1750271648,"id":"chatcmpl-PZ5ZD8fqMnhPYSsPlrOieSvbLMKUCe69",)"
               R"("model":"","system_fingerprint":"b1-a414a44","object":"chat.completion.chunk"})";
      case Wire::vllm:
        if (quirk_ == Quirk::vllm_no_finish_reason && !last) {
          return R"({"id":"chatcmpl-c4eefdc442064e16be757120a2ec7703","object":"chat.completion.chunk",)"
                 R"("created":1749904375,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":)" +
                 delta + "}]}";
        }
        return R"({"id":"chatcmpl-a0e8d16d47a64de58a0a3083e18d432a","object":"chat.completion.chunk",)"
               R"("created":1749994809,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":)" +
               delta + R"(,"logprobs":null,"finish_reason":)" + finish +
               (last ? R"(,"stop_reason":null)" : "") + "}]}";
    }
    return "{}";
  }

  std::string obfuscation() {
    static const char* pads[] = {"ZGF", "lRK2aBv", "kJ", "0wmdEAC", "YhS7A", "eLeR83E5F"};
    return pads[pad_++ % 6];
  }

  std::string content_delta(const std::string& token, bool first) {
    switch (wire_) {
      case Wire::openai:
        return first ? R"({"role":"assistant","content":)" + q(token) + R"(,"refusal":null})"
                     : R"({"content":)" + q(token) + "}";
      case Wire::ollama:
        return R"({"role":"assistant","content":)" + q(token) + "}";
      case Wire::llamacpp:
      case Wire::vllm:
        if (quirk_ == Quirk::vllm_no_finish_reason) {
          return R"({"content":)" + q(token) + R"(,"tool_calls":[]})";
        }
        return R"({"content":)" + q(token) + "}";
    }
    return "{}";
  }

  // The opening chunk those servers send before any token.
  void opening() {
    const std::size_t before = events_.size();
    opening_chunk();
    opening_events_ = events_.size() - before;
  }

  void opening_chunk() {
    switch (wire_) {
      case Wire::openai:
        if (plan_.tokens.empty()) return;  // a tool-only answer opens with the call
        data(chunk(R"({"role":"assistant","content":"","refusal":null})", "null"));
        return;
      case Wire::llamacpp:
        data(chunk(R"({"role":"assistant","content":null})", "null"));
        return;
      case Wire::vllm:
        if (quirk_ != Quirk::vllm_no_finish_reason) {
          data(chunk(R"({"role":"assistant","content":""})", "null"));
        }
        return;
      case Wire::ollama:
        return;  // its first chunk carries the first token
    }
  }

  std::vector<std::string> tokens() const {
    std::vector<std::string> out;
    if (quirk_ == Quirk::think_tags) {
      for (const char* t : {"<thi", "nk>", "\nThe user wants a fact.", " I should be brief.\n", "</th",
                            "ink>", "\n\n"}) {
        out.emplace_back(t);
      }
    }
    for (const auto& t : plan_.tokens) out.push_back(t);
    return out;
  }

  void text_part() {
    const auto all = tokens();
    for (std::size_t i = 0; i < all.size(); ++i) {
      const bool first = i == 0 && wire_ == Wire::openai && events_.empty();
      data(chunk(content_delta(all[i], first), "null"));
      if (quirk_ == Quirk::llamacpp_error_field && i == 1) {
        events_.push_back(
            "error: {\"code\":400,\"message\":\"the request exceeds the available context size. "
            "try increasing the context size or enable context shift\",\"type\":"
            "\"invalid_request_error\"}\n\n");
        events_.push_back("data: [DONE]\n\n");
        stopped_ = true;
        return;
      }
      if (quirk_ == Quirk::llamacpp_error_data && i == 1) {
        data(R"({"error":{"code":500,"message":"llama_decode failed: out of memory","type":"server_error"}})");
        stopped_ = true;
        return;
      }
    }
  }

  static std::vector<std::string> split_args(const std::string& args) {
    // Arguments arrive in a few pieces, as models write them.
    std::vector<std::string> out;
    const std::size_t n = args.size();
    const std::size_t a = n / 3, b = 2 * n / 3;
    for (auto [from, to] : {std::pair<std::size_t, std::size_t>{0, a}, {a, b}, {b, n}}) {
      if (to > from) out.push_back(args.substr(from, to - from));
    }
    return out;
  }

  std::string call_id(std::size_t i, const ToolPlan& t) const {
    if (!t.id.empty()) return t.id;
    switch (wire_) {
      case Wire::openai: return "call_Gd1xP2qF8nZ0vT" + std::to_string(i);
      case Wire::ollama: return "call_mq4ve9ls" + std::to_string(i);
      case Wire::llamacpp: return "jNcrqfYTcJ1ZqOlJIhwZ3Z6xR1vK0k4" + std::to_string(i);
      case Wire::vllm: return "chatcmpl-tool-040af537f3e14bd6986646facde02ce" + std::to_string(i);
    }
    return "x";
  }

  void tool_part() {
    for (std::size_t i = 0; i < plan_.tools.size(); ++i) {
      const ToolPlan& t = plan_.tools[i];
      const std::string id = call_id(i, t);
      const std::string idx = std::to_string(i);
      switch (wire_) {
        case Wire::openai: {
          auto args = split_args(t.arguments);
          std::string head = R"({"index":)" + idx + R"(,"id":)" + q(id) +
                             R"(,"type":"function","function":{"name":)" + q(t.name) +
                             R"(,"arguments":""}})";
          if (quirk_ == Quirk::openai_split_index && !args.empty()) {
            // One chunk holding two entries of the same index (openai-python#3201).
            head += R"(,{"index":)" + idx + R"(,"function":{"arguments":)" + q(args[0]) + "}}";
            args.erase(args.begin());
          }
          const bool opens = i == 0 && plan_.tokens.empty();
          data(chunk(std::string(opens ? R"({"role":"assistant","content":null,)" : "{") +
                         R"("tool_calls":[)" + head + "]" +
                         (opens ? R"(,"refusal":null})" : "}"),
                     "null"));
          for (const auto& piece : args) {
            data(chunk(R"({"tool_calls":[{"index":)" + idx + R"(,"function":{"arguments":)" +
                           q(piece) + "}}]}",
                       "null"));
          }
          break;
        }
        case Wire::ollama: {
          if (quirk_ == Quirk::ollama_index_without_id) {
            data(chunk(R"({"role":"assistant","content":"","tool_calls":[{"index":)" + idx +
                           R"(,"type":"function","function":{"name":)" + q(t.name) +
                           R"(,"arguments":""}}]})",
                       "null"));
            for (const auto& piece : split_args(t.arguments)) {
              data(chunk(R"({"role":"assistant","content":"","tool_calls":[{"index":)" + idx +
                             R"(,"function":{"arguments":)" + q(piece) + "}}]}",
                         "null"));
            }
            break;
          }
          std::string call = R"({"id":)" + q(id);
          if (quirk_ != Quirk::ollama_no_index) {
            call += R"(,"index":)" + std::string(quirk_ == Quirk::ollama_same_index ? "0" : idx);
          }
          call += R"(,"type":"function","function":{"name":)" + q(t.name) + R"(,"arguments":)" +
                  q(t.arguments) + "}}";
          data(chunk(R"({"role":"assistant","content":"","tool_calls":[)" + call + "]}", "null"));
          break;
        }
        case Wire::llamacpp: {
          if (quirk_ == Quirk::llamacpp_object_args) {
            data(chunk(R"({"tool_calls":[{"index":)" + idx + R"(,"id":)" + q(id) +
                           R"(,"type":"function","function":{"name":)" + q(t.name) +
                           R"(,"arguments":)" + t.arguments + "}}]}",
                       "null"));
            break;
          }
          data(chunk(R"({"tool_calls":[{"index":)" + idx + R"(,"id":)" + q(id) +
                         R"(,"type":"function","function":{"name":)" + q(t.name) +
                         R"(,"arguments":""}}]})",
                     "null"));
          for (const auto& piece : split_args(t.arguments)) {
            data(chunk(R"({"tool_calls":[{"index":)" + idx + R"(,"function":{"arguments":)" +
                           q(piece) + "}}]}",
                       "null"));
          }
          break;
        }
        case Wire::vllm: {
          data(chunk(R"({"tool_calls":[{"id":)" + q(id) + R"(,"type":"function","index":)" + idx +
                         R"(,"function":{"name":)" + q(t.name) + "}}]}",
                     "null"));
          for (const auto& piece : split_args(t.arguments)) {
            data(chunk(R"({"tool_calls":[{"index":)" + idx + R"(,"function":{"arguments":)" +
                           q(piece) + "}}]}",
                       "null"));
          }
          break;
        }
      }
    }
  }

  void closing() {
    std::string finish = plan_.finish_reason.empty()
                             ? (plan_.tools.empty() ? "stop" : "tool_calls")
                             : plan_.finish_reason;
    const std::string f = q(finish);
    switch (wire_) {
      case Wire::openai:
        data(chunk("{}", f, true));
        data(R"({"id":"chatcmpl-D0q8CZXN1uEzngZGkU7FuV92lnXWq","object":"chat.completion.chunk",)"
             R"("created":1769092764,"model":"gpt-4o-mini-2024-07-18","service_tier":"default",)"
             R"("system_fingerprint":"fp_29330a9688","choices":[],"usage":{"prompt_tokens":57,)"
             R"("completion_tokens":12,"total_tokens":69,"prompt_tokens_details":{"cached_tokens":0,)"
             R"("audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,)"
             R"("accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"kQ"})");
        break;
      case Wire::ollama:
        data(chunk(R"({"role":"assistant","content":""})", f, true));
        data(R"({"id":"chatcmpl-537","object":"chat.completion.chunk","created":1721830176,)"
             R"("model":"llama3.2","system_fingerprint":"fp_ollama","choices":[],)"
             R"("usage":{"prompt_tokens":57,"completion_tokens":12,"total_tokens":69}})");
        break;
      case Wire::llamacpp:
        data(chunk("{}", f, true));
        data(R"({"choices":[],"created":1750271648,"id":"chatcmpl-PZ5ZD8fqMnhPYSsPlrOieSvbLMKUCe69",)"
             R"("model":"","system_fingerprint":"b1-a414a44","object":"chat.completion.chunk",)"
             R"("usage":{"completion_tokens":12,"prompt_tokens":57,"total_tokens":69,)"
             R"("prompt_tokens_details":{"cached_tokens":0}},"timings":{"prompt_n":57,)"
             R"("prompt_ms":246.082,"prompt_per_token_ms":4.317,"prompt_per_second":231.6,)"
             R"("predicted_n":12,"predicted_ms":180.2,"predicted_per_token_ms":15.0,)"
             R"("predicted_per_second":66.6}})");
        break;
      case Wire::vllm:
        data(chunk(R"({"content":""})", f, true));
        data(std::string(R"({"id":"chatcmpl-a0e8d16d47a64de58a0a3083e18d432a","object":"chat.completion.chunk",)"
                         R"("created":1749994809,"model":"Qwen/Qwen3-8B","choices":)") +
             (quirk_ == Quirk::vllm_null_choices ? "null" : "[]") +
             R"(,"usage":{"prompt_tokens":57,"total_tokens":69,"completion_tokens":12}})");
        break;
    }
    std::string done = "data: [DONE]" + eol() + eol();
    events_.push_back(done);
  }

  void build() {
    opening();
    text_part();
    if (stopped_) return;
    tool_part();
    closing();
  }

  Wire wire_;
  AnswerPlan plan_;
  Quirk quirk_;
  std::vector<std::string> events_;
  int pad_ = 0;
  bool stopped_ = false;
  std::size_t opening_events_ = 0;
};

std::vector<std::pair<std::string, std::string>> headers_of(Wire wire) {
  switch (wire) {
    case Wire::openai:
      return {{"Date", "Fri, 23 Jan 2026 10:00:00 GMT"},
              {"Content-Type", "text/event-stream; charset=utf-8"},
              {"openai-processing-ms", "182"},
              {"x-request-id", "req_8d2f1c0b7a"},
              {"Server", "cloudflare"}};
    case Wire::ollama:
      return {{"Content-Type", "text/event-stream"},
              {"Date", "Fri, 23 Jan 2026 10:00:00 GMT"}};
    case Wire::llamacpp:
      return {{"Keep-Alive", "timeout=5, max=100"},
              {"Content-Type", "text/event-stream"},
              {"Server", "llama.cpp"},
              {"Access-Control-Allow-Origin", ""}};
    case Wire::vllm:
      return {{"date", "Fri, 23 Jan 2026 10:00:00 GMT"},
              {"server", "uvicorn"},
              {"content-type", "text/event-stream; charset=utf-8"}};
  }
  return {};
}

}  // namespace

std::vector<StreamPiece> sse_answer(Wire wire, const AnswerPlan& plan, Quirk quirk) {
  return Replay(wire, plan, quirk).pieces();
}

StreamReply llm_reply(Wire wire, const AnswerPlan& plan, Quirk quirk) {
  StreamReply reply;
  reply.headers = headers_of(wire);
  reply.pieces = sse_answer(wire, plan, quirk);
  reply.framing = StreamReply::Framing::chunked;
  return reply;
}

StreamReply llm_error(Wire wire, unsigned status, std::uint32_t retry_after_s) {
  StreamReply reply;
  reply.status = status;
  reply.framing = StreamReply::Framing::length;
  std::string body;
  switch (status) {
    case 401:
      reply.reason = "Unauthorized";
      body = wire == Wire::openai
                 ? R"({"error":{"message":"Incorrect API key provided: sk-test-***************cdef. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})"
                 : R"({"error":{"code":401,"message":"Invalid API Key","type":"authentication_error"}})";
      break;
    case 404:
      reply.reason = "Not Found";
      if (wire == Wire::openai) {
        body = R"({"error":{"message":"The model `gpt-9-turbo` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}})";
      } else if (wire == Wire::ollama) {
        // openai.NewError(404, ...): type "not_found_error" (ollama/openai/openai.go).
        body = R"({"error":{"message":"model \"llama9\" not found, try pulling it first","type":"not_found_error","param":null,"code":null}})";
      } else if (wire == Wire::vllm) {
        body = R"({"object":"error","message":"The model `llama9` does not exist.","type":"NotFoundError","param":null,"code":404})";
      } else {
        body = R"({"error":{"code":404,"message":"File Not Found","type":"not_found_error"}})";
      }
      break;
    case 429:
      reply.reason = "Too Many Requests";
      body = R"({"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-test on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.","type":"requests","param":null,"code":"rate_limit_exceeded"}})";
      if (retry_after_s > 0) reply.headers.emplace_back("retry-after", std::to_string(retry_after_s));
      break;
    default:
      reply.reason = "Internal Server Error";
      body = R"({"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}})";
  }
  reply.headers.emplace_back("Content-Type", "application/json");
  reply.pieces.push_back(StreamPiece{0, body, false});
  return reply;
}

// ---- TestLlmHttpServer ---------------------------------------------------------------------

struct TestLlmHttpServer::Queue {
  std::mutex mutex;
  std::deque<StreamReply> replies;
};

TestLlmHttpServer::TestLlmHttpServer() : queue_(std::make_shared<Queue>()) {
  server_ = std::make_unique<StreamServer>([queue = queue_](const SeenRequest& request) {
    const std::string path = request.target.substr(0, request.target.find('?'));
    if (request.method != "POST" || path != "/v1/chat/completions") {
      StreamReply r;
      r.status = 404;
      r.reason = "Not Found";
      r.framing = StreamReply::Framing::length;
      r.headers = {{"Content-Type", "application/json"}};
      r.pieces = {StreamPiece{0, R"({"error":{"message":"no such route","type":"invalid_request_error"}})", false}};
      return r;
    }
    std::lock_guard<std::mutex> lock(queue->mutex);
    if (queue->replies.empty()) return llm_reply(Wire::openai, AnswerPlan{{"Hello", "."}, {}, 0, 0, ""});
    StreamReply r = queue->replies.front();
    if (queue->replies.size() > 1) queue->replies.pop_front();
    return r;
  });
}

void TestLlmHttpServer::push(StreamReply reply) {
  std::lock_guard<std::mutex> lock(queue_->mutex);
  queue_->replies.push_back(std::move(reply));
}

void TestLlmHttpServer::set(std::vector<StreamReply> replies) {
  std::lock_guard<std::mutex> lock(queue_->mutex);
  queue_->replies.assign(replies.begin(), replies.end());
}

std::string TestLlmHttpServer::base_url() const { return server_->url("/v1"); }

std::vector<json> TestLlmHttpServer::bodies() const {
  std::vector<json> out;
  for (const auto& r : server_->requests()) {
    if (r.target.rfind("/v1/chat/completions", 0) != 0) continue;
    auto parsed = parse_json(r.body, "request body", 128);
    out.push_back(parsed ? *parsed : json());
  }
  return out;
}

}  // namespace parley::test
