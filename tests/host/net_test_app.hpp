// For the network-layer tests only: a tiny Application behind a real Server running on its
// own io thread inside the test process. Not the host's application (that is
// make_application); this one echoes, floods and closes on command so that every path of
// the network layer can be driven from a test.
//
// HTTP:  POST /app/echo  → 200, body "METHOD BODY";  GET /app/later → 200 "later" after 50 ms
//        GET /app/header → 200, body = the request's x-test header
// WS /echo: text "flood N" sends N 1000-byte frames at once; "close CODE" closes with CODE;
//        anything else (text or binary) is echoed. on_idle_timeout sends an onerror and
//        closes 4408 (unless close_on_idle is false).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "../../host/src/net/server.hpp"
#include "parley/host/config.hpp"
#include "parley/host/metrics.hpp"
#include "parley/host/net_types.hpp"

namespace parley::test {

class NetTestApp : public host::Application {
 public:
  explicit NetTestApp(boost::asio::io_context& io) : io_(io) {}

  // Read and written on the io thread only (use NetServer::on_io from the test thread).
  bool close_on_idle = true;
  int idle_calls = 0;
  int shutdown_calls = 0;
  std::vector<std::uint16_t> closed_codes;
  std::vector<std::string> texts_received;

  bool handle_http(const host::HttpRequest& request, host::HttpDone done) override {
    if (request.path == "/app/echo") {
      host::HttpResponse response;
      response.content_type = "text/plain; charset=utf-8";
      response.body = request.method + " " + request.body;
      done(std::move(response));
      return true;
    }
    if (request.path == "/app/header") {
      host::HttpResponse response;
      response.content_type = "text/plain; charset=utf-8";
      response.body = std::string(request.header("x-test").value_or("(none)"));
      done(std::move(response));
      return true;
    }
    if (request.path == "/app/later") {
      auto timer = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(50));
      timer->async_wait([timer, done](boost::system::error_code) {
        host::HttpResponse response;
        response.body = "\"later\"";
        done(std::move(response));
      });
      return true;
    }
    return false;
  }

  std::shared_ptr<host::SocketHandler> open_socket(const host::HttpRequest& upgrade,
                                                   std::shared_ptr<host::SocketSink> sink) override {
    if (upgrade.path != "/echo") return nullptr;
    return std::make_shared<Handler>(*this, std::move(sink));
  }

  void shutdown(std::function<void()> done) override {
    ++shutdown_calls;
    done();
  }

  std::string metrics_text() const override { return "parley_test_app_marker 1\n"; }

 private:
  class Handler : public host::SocketHandler {
   public:
    Handler(NetTestApp& app, std::shared_ptr<host::SocketSink> sink)
        : app_(app), sink_(std::move(sink)) {}

    void on_text(std::string_view text) override {
      app_.texts_received.emplace_back(text);
      if (text.rfind("flood ", 0) == 0) {
        const int count = std::stoi(std::string(text.substr(6)));
        for (int i = 0; i < count; ++i) sink_->send_text(std::string(1000, 'x'));
      } else if (text.rfind("audio-then-text ", 0) == 0) {
        // N binary frames, then a text frame: the text goes before the queued audio.
        const int count = std::stoi(std::string(text.substr(16)));
        for (int i = 0; i < count; ++i) sink_->send_binary(std::string(640, static_cast<char>(i)));
        sink_->send_text("control");
      } else if (text.rfind("audio-drop-text ", 0) == 0) {
        // N binary frames, dropped while queued (barge-in), then a text frame.
        const int count = std::stoi(std::string(text.substr(16)));
        for (int i = 0; i < count; ++i) sink_->send_binary(std::string(640, static_cast<char>(i)));
        sink_->drop_queued_audio();
        sink_->send_text("clear");
      } else if (text.rfind("close ", 0) == 0) {
        sink_->close(static_cast<std::uint16_t>(std::stoi(std::string(text.substr(6)))), "bye");
      } else {
        sink_->send_text(std::string(text));
      }
    }
    void on_binary(const std::uint8_t* data, std::size_t size) override {
      sink_->send_binary(std::string(reinterpret_cast<const char*>(data), size));
    }
    void on_idle_timeout() override {
      ++app_.idle_calls;
      if (!app_.close_on_idle) return;
      sink_->send_text(R"({"method":"onerror","data":{"code":"idle_timeout","message":"idle"}})");
      sink_->close(4408, "idle timeout");
    }
    void on_closed(std::uint16_t code) override { app_.closed_codes.push_back(code); }

   private:
    NetTestApp& app_;
    std::shared_ptr<host::SocketSink> sink_;
  };

  boost::asio::io_context& io_;
};

// A HostConfig for the network tests: one agent "demo", small limits, no static roots.
inline host::HostConfig net_test_config() {
  host::HostConfig config;
  config.server.listen = "127.0.0.1:0";
  config.server.database = ":memory:";
  config.server.limits.max_header_bytes = 2048;
  config.server.limits.max_body_bytes = 1024;
  config.server.limits.max_ws_message_bytes = 1024;
  config.server.limits.max_send_queue = 16;
  config.server.limits.handshake_timeout_s = 2;
  config.server.limits.idle_timeout_s = 30;
  host::AgentConfig agent;
  agent.id = "demo";
  agent.public_keys = {"pk_demo"};
  agent.allowed_origins = {"http://127.0.0.1:*", "https://shop.example"};
  config.agents.push_back(agent);
  host::AgentConfig other;
  other.id = "closed";
  other.public_keys = {"pk_closed"};
  config.agents.push_back(other);
  return config;
}

// A Server + NetTestApp on an io thread of their own, listening on 127.0.0.1:0.
class NetServer {
 public:
  explicit NetServer(host::HostConfig config = net_test_config())
      : config_(std::move(config)),
        app(io_),
        server_(io_, config_, app, metrics),
        work_(boost::asio::make_work_guard(io_)) {
    auto bound = server_.listen();
    if (bound) port = *bound;
    else listen_error = bound.error().message;
    thread_ = std::thread([this] { io_.run(); });
  }

  ~NetServer() {
    on_io([this] {
      server_.stop();
      server_.close_all(1001, "test over");
      return 0;
    });
    // Let the sockets finish their closing handshakes (bounded), then stop.
    for (int i = 0; i < 150 && on_io([this] { return server_.connection_count(); }) > 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    work_.reset();
    io_.stop();
    thread_.join();
  }

  // Runs `fn` on the io thread and returns its result (waits at most 5 s).
  template <class F>
  auto on_io(F fn) -> decltype(fn()) {
    using R = decltype(fn());
    auto task = std::make_shared<std::packaged_task<R()>>(std::move(fn));
    auto result = task->get_future();
    boost::asio::post(io_, [task] { (*task)(); });
    if (result.wait_for(std::chrono::seconds(5)) != std::future_status::ready) return R{};
    return result.get();
  }

  // Waits (bounded) until `predicate` holds on the io thread.
  bool wait_for(const std::function<bool()>& predicate, int timeout_ms = 3000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (on_io([&] { return predicate(); })) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  host::Server& server() { return server_; }

 private:
  host::HostConfig config_;
  boost::asio::io_context io_;

 public:
  host::Metrics metrics;
  NetTestApp app;
  std::uint16_t port = 0;
  std::string listen_error;

 private:
  host::Server server_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

}  // namespace parley::test
