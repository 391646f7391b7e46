// The agent tests' HTTP and WebSocket servers (see the header). Beast, one io thread each.
#include "test_http_server.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace parley::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// An io_context on its own thread, stopped and joined on destruction.
struct IoThread {
  asio::io_context io;
  std::thread thread;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  void run() {
    thread = std::thread([this] { io.run(); });
  }
  void stop() {
    io.stop();
    if (thread.joinable()) thread.join();
  }
  std::int64_t elapsed_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now() - started)
        .count();
  }
};

tcp::acceptor open_acceptor(asio::io_context& io, std::uint16_t port) {
  tcp::acceptor acceptor(io);
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen();
  return acceptor;
}

}  // namespace

// ---- HTTP -----------------------------------------------------------------------------

// Handlers hold the Impl by plain pointer: it outlives the io thread (joined first), and
// pending handlers are destroyed with its io_context, so nothing keeps it alive in a cycle.
struct TestHttpServer::Impl {
  IoThread runner;
  tcp::acceptor acceptor{runner.io};
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::map<std::string, std::deque<ScriptedReply>> scripts;
  std::vector<RecordedRequest> recorded;

  void accept() {
    acceptor.async_accept([self = this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      std::make_shared<HttpSession>(self, std::move(socket))->read();
      self->accept();
    });
  }

  ScriptedReply reply_for(const std::string& path) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = scripts.find(path);
    if (it == scripts.end() || it->second.empty()) {
      return ScriptedReply{404, R"({"error":"not scripted"})", 0, "application/json"};
    }
    ScriptedReply reply = it->second.front();
    if (it->second.size() > 1) it->second.pop_front();
    return reply;
  }

  void record(RecordedRequest request) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      recorded.push_back(std::move(request));
    }
    changed.notify_all();
  }

  struct HttpSession : std::enable_shared_from_this<HttpSession> {
    HttpSession(Impl* s, tcp::socket sock)
        : server(s), stream(std::move(sock)), timer(server->runner.io) {}
    Impl* server;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::response<http::string_body> response;
    asio::steady_timer timer;

    void read() {
      request = {};
      stream.expires_after(std::chrono::seconds(10));
      http::async_read(stream, buffer, request,
                       [self = shared_from_this()](beast::error_code ec, std::size_t) {
                         if (ec) return;
                         self->on_request();
                       });
    }

    void on_request() {
      RecordedRequest rec;
      rec.method = std::string(request.method_string());
      rec.target = std::string(request.target());
      rec.body = request.body();
      for (const auto& field : request) {
        rec.headers[lower(std::string(field.name_string()))] = std::string(field.value());
      }
      rec.received_ms = server->runner.elapsed_ms();
      std::string path = rec.target.substr(0, rec.target.find('?'));
      server->record(std::move(rec));
      ScriptedReply reply = server->reply_for(path);
      response = {};
      response.version(11);
      response.result(reply.status);
      response.set(http::field::content_type, reply.content_type);
      response.keep_alive(false);
      response.body() = reply.body;
      response.prepare_payload();
      timer.expires_after(std::chrono::milliseconds(reply.delay_ms));
      timer.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (ec) return;
        self->stream.expires_after(std::chrono::seconds(10));
        http::async_write(self->stream, self->response,
                          [self](beast::error_code, std::size_t) {
                            beast::error_code ignored;
                            self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
                          });
      });
    }
  };
};

TestHttpServer::TestHttpServer(std::uint16_t port) : impl_(std::make_shared<Impl>()) {
  impl_->acceptor = open_acceptor(impl_->runner.io, port);
  impl_->accept();
  impl_->runner.run();
}

TestHttpServer::~TestHttpServer() {
  impl_->runner.stop();
}

std::uint16_t TestHttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string TestHttpServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port()) + path;
}

void TestHttpServer::script(const std::string& path, ScriptedReply reply) {
  script(path, std::vector<ScriptedReply>{std::move(reply)});
}

void TestHttpServer::script(const std::string& path, std::vector<ScriptedReply> replies) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->scripts[path] = std::deque<ScriptedReply>(replies.begin(), replies.end());
}

std::vector<RecordedRequest> TestHttpServer::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->recorded;
}

std::vector<RecordedRequest> TestHttpServer::requests_to(const std::string& path) const {
  std::vector<RecordedRequest> out;
  for (auto& r : requests()) {
    if (r.target.substr(0, r.target.find('?')) == path) out.push_back(std::move(r));
  }
  return out;
}

bool TestHttpServer::wait_for_requests(std::size_t count,
                                       std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout,
                                 [&] { return impl_->recorded.size() >= count; });
}

// ---- WebSocket (custom LLM) ------------------------------------------------------------

struct TestLlmServer::Impl {
  IoThread runner;
  tcp::acceptor acceptor{runner.io};
  Handler handler;
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::vector<json> received;
  std::size_t connection_count = 0;

  void accept() {
    acceptor.async_accept([self = this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      {
        std::lock_guard<std::mutex> lock(self->mutex);
        ++self->connection_count;
      }
      std::make_shared<WsSession>(self, std::move(socket))->start();
      self->accept();
    });
  }

  struct WsSession : std::enable_shared_from_this<WsSession> {
    WsSession(Impl* s, tcp::socket sock)
        : server(s), ws(std::move(sock)), timer(server->runner.io) {}
    Impl* server;
    websocket::stream<beast::tcp_stream> ws;
    beast::flat_buffer buffer;
    asio::steady_timer timer;
    std::deque<LlmFrame> outgoing;
    bool sending = false;
    bool closed = false;

    void start() {
      ws.async_accept([self = shared_from_this()](beast::error_code ec) {
        if (ec) return;
        self->read();
      });
    }

    void read() {
      ws.async_read(buffer, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec) {
          self->closed = true;
          return;
        }
        std::string text = beast::buffers_to_string(self->buffer.data());
        self->buffer.consume(self->buffer.size());
        auto parsed = parse_json(text, "message");
        json message = parsed ? parsed.value() : json();
        {
          std::lock_guard<std::mutex> lock(self->server->mutex);
          self->server->received.push_back(message);
        }
        self->server->changed.notify_all();
        for (auto& frame : self->server->handler(message)) self->outgoing.push_back(frame);
        self->pump();
        self->read();
      });
    }

    // Sends queued frames one at a time, each after its delay.
    void pump() {
      if (sending || outgoing.empty() || closed) return;
      sending = true;
      timer.expires_after(std::chrono::milliseconds(outgoing.front().delay_ms));
      timer.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (ec || self->closed) return;
        LlmFrame frame = std::move(self->outgoing.front());
        self->outgoing.pop_front();
        if (frame.close) {
          self->closed = true;
          self->ws.async_close(websocket::close_code::normal, [self](beast::error_code) {});
          return;
        }
        auto text = std::make_shared<std::string>(std::move(frame.text));
        self->ws.text(true);
        self->ws.async_write(asio::buffer(*text),
                             [self, text](beast::error_code e, std::size_t) {
                               self->sending = false;
                               if (e) {
                                 self->closed = true;
                                 return;
                               }
                               self->pump();
                             });
      });
    }
  };
};

TestLlmServer::TestLlmServer(Handler handler) : impl_(std::make_shared<Impl>()) {
  impl_->handler = std::move(handler);
  impl_->acceptor = open_acceptor(impl_->runner.io, 0);
  impl_->accept();
  impl_->runner.run();
}

TestLlmServer::~TestLlmServer() {
  impl_->runner.stop();
}

std::uint16_t TestLlmServer::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string TestLlmServer::url(const std::string& path) const {
  return "ws://127.0.0.1:" + std::to_string(port()) + path;
}

std::vector<json> TestLlmServer::messages() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->received;
}

bool TestLlmServer::wait_for_messages(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->received.size() >= count; });
}

std::size_t TestLlmServer::connections() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->connection_count;
}

std::string stream_response(const json& stream_id, const std::string& content, bool end) {
  return to_json_text({{"type", "stream_response"},
                       {"data", {{"stream_id", stream_id}, {"content", content},
                                 {"end_of_stream", end}}}});
}

host::AgentConfig agent_from_vector(const json& v) {
  host::AgentConfig agent;
  agent.id = v.value("id", "test-agent");
  agent.prompt = v.value("prompt", "");
  if (v.contains("fallback_reply")) agent.fallback_reply = v["fallback_reply"].get<std::string>();
  for (const auto& r : v.value("rules", json::array())) {
    host::ReplyRule rule;
    rule.words = r.value("words", std::vector<std::string>{});
    rule.pattern = r.value("pattern", "");
    rule.reply = r.value("reply", "");
    rule.tool = r.value("tool", "");
    rule.tool_arguments = r.value("tool_arguments", json::object());
    agent.rules.push_back(std::move(rule));
  }
  for (const auto& t : v.value("tools", json::array())) {
    host::ToolConfig tool;
    tool.name = t.at("name").get<std::string>();
    tool.parameters = t.value("parameters", json::object());
    agent.tools.push_back(std::move(tool));
  }
  return agent;
}

std::uint16_t unused_port() {
  asio::io_context io;
  tcp::acceptor acceptor = open_acceptor(io, 0);
  return acceptor.local_endpoint().port();
}

}  // namespace parley::test
