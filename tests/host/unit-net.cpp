// The network layer (host/src/net): HTTP limits and routes, WebSocket limits and lifecycle,
// against a real Server on 127.0.0.1:0 with the test application (net_test_app.hpp); and
// the parley-host program itself, spawned (usage, exit codes, SIGTERM).
#include <catch2/catch.hpp>

#include <signal.h>

#include <filesystem>
#include <string>

#include "net_test_app.hpp"
#include "parley/json.hpp"
#include "test_client.hpp"

using namespace parley;
using namespace parley::test;

namespace {

json parse_body(const HttpResult& result) {
  auto parsed = parse_json(result.body, "body", 64);
  return parsed ? parsed.value() : json();
}

std::string error_code_of(const HttpResult& result) {
  const json body = parse_body(result);
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) return "";
  return body["error"].value("code", "");
}

std::string error_message_of(const HttpResult& result) {
  const json body = parse_body(result);
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) return "";
  return body["error"].value("message", "");
}

std::uint64_t error_count(NetServer& server, const std::string& kind) {
  return server.on_io([&] {
    auto it = server.metrics.errors.find(kind);
    return it == server.metrics.errors.end() ? std::uint64_t{0} : it->second;
  });
}

}  // namespace

TEST_CASE("GET /healthz answers ok with the security headers", "[net]") {
  NetServer server;
  REQUIRE(server.port != 0);
  const HttpResult result = http(server.port, "GET", "/healthz");
  REQUIRE(result.ok());
  CHECK(result.status == 200);
  CHECK(parse_body(result) == json{{"status", "ok"}});
  CHECK(result.header("x-content-type-options") == std::optional<std::string>("nosniff"));
  CHECK(result.header("referrer-policy") == std::optional<std::string>("no-referrer"));
  CHECK(result.header("server").value_or("").find("parley-host") == 0);
  CHECK(result.header("content-type").value_or("").find("application/json") == 0);
}

TEST_CASE("GET /metrics is Prometheus text with the application's lines", "[net]") {
  NetServer server;
  http(server.port, "GET", "/healthz");
  const HttpResult result = http(server.port, "GET", "/metrics");
  REQUIRE(result.status == 200);
  CHECK(result.header("content-type").value_or("").find("text/plain; version=0.0.4") == 0);
  CHECK(result.body.find("# TYPE parley_http_requests_total counter") != std::string::npos);
  // /healthz and this request were counted before the text was rendered.
  CHECK(result.body.find("parley_http_requests_total 2\n") != std::string::npos);
  CHECK(result.body.find("parley_test_app_marker 1\n") != std::string::npos);
}

TEST_CASE("unknown paths are 404 and other methods on static paths 405", "[net]") {
  NetServer server;
  const HttpResult missing = http(server.port, "GET", "/no/such/thing");
  CHECK(missing.status == 404);
  CHECK(error_code_of(missing) == "not_found");

  const HttpResult post = http(server.port, "POST", "/index.html", "x");
  CHECK(post.status == 405);
  CHECK(post.header("allow") == std::optional<std::string>("GET, HEAD"));
  CHECK(error_message_of(post).find("POST") != std::string::npos);

  const HttpResult delete_health = http(server.port, "DELETE", "/healthz");
  CHECK(delete_health.status == 405);
}

TEST_CASE("application routes answer now or later, with headers and body passed through", "[net]") {
  NetServer server;
  const HttpResult echo = http(server.port, "POST", "/app/echo", "hello body");
  CHECK(echo.status == 200);
  CHECK(echo.body == "POST hello body");
  CHECK(echo.header("x-content-type-options") == std::optional<std::string>("nosniff"));

  const HttpResult header = http(server.port, "GET", "/app/header", "", {{"X-Test", "v1"}});
  CHECK(header.body == "v1");

  const HttpResult later = http(server.port, "GET", "/app/later");
  CHECK(later.status == 200);
  CHECK(later.body == "\"later\"");
}

TEST_CASE("a body over max_body_bytes is refused with 413 naming the limit", "[net]") {
  NetServer server;
  const HttpResult at_limit = http(server.port, "POST", "/app/echo", std::string(1024, 'a'));
  CHECK(at_limit.status == 200);
  const HttpResult over = http(server.port, "POST", "/app/echo", std::string(1025, 'a'));
  REQUIRE(over.ok());
  CHECK(over.status == 413);
  CHECK(error_code_of(over) == "body_too_large");
  CHECK(error_message_of(over).find("max_body_bytes (1024") != std::string::npos);
  CHECK(error_count(server, "http_body_too_large") == 1);
}

TEST_CASE("headers over max_header_bytes are refused with 431 naming the limit", "[net]") {
  NetServer server;
  const HttpResult over =
      http(server.port, "GET", "/healthz", "", {{"X-Big", std::string(3000, 'h')}});
  REQUIRE(over.ok());
  CHECK(over.status == 431);
  CHECK(error_message_of(over).find("max_header_bytes (2048") != std::string::npos);
  const HttpResult fine = http(server.port, "GET", "/healthz", "", {{"X-Big", std::string(500, 'h')}});
  CHECK(fine.status == 200);
}

TEST_CASE("a request that does not arrive within handshake_timeout_s gets 408", "[net]") {
  auto config = net_test_config();
  config.server.limits.handshake_timeout_s = 1;
  NetServer server(config);
  const auto start = std::chrono::steady_clock::now();
  // Headers never finished.
  const std::string reply =
      raw_exchange(server.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n", 4000);
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(reply.rfind("HTTP/1.1 408", 0) == 0);
  CHECK(reply.find("handshake_timeout_s (1 s)") != std::string::npos);
  CHECK(waited >= std::chrono::milliseconds(900));
  CHECK(waited < std::chrono::milliseconds(3500));
  // Nothing sent at all: also told, then closed.
  CHECK(raw_exchange(server.port, "", 4000).rfind("HTTP/1.1 408", 0) == 0);
  CHECK(error_count(server, "http_timeout") == 2);
}

TEST_CASE("keep-alive serves several requests on one connection", "[net]") {
  NetServer server;
  const auto results = http_keep_alive(
      server.port, {{"GET", "/healthz"}, {"GET", "/metrics"}, {"GET", "/healthz"}});
  REQUIRE(results.size() == 3);
  for (const auto& result : results) {
    CHECK(result.ok());
    CHECK(result.status == 200);
  }
  CHECK(results[1].body.find("parley_http_requests_total 2\n") != std::string::npos);
}

TEST_CASE("malformed requests get 400 and the server carries on", "[net]") {
  NetServer server;
  const std::string reply = raw_exchange(server.port, "GET / HTTP/1.1\r\nBad Header\r\n\r\n");
  CHECK(reply.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(reply.find("malformed HTTP request") != std::string::npos);
  CHECK(http(server.port, "GET", "/healthz").status == 200);
}

TEST_CASE("a WebSocket upgrade to a path the application does not serve is 404", "[net]") {
  NetServer server;
  WsClient ws;
  const std::string error = ws.connect(server.port, "/not-a-socket");
  CHECK(!error.empty());
  CHECK(ws.handshake_status() == 404);
  CHECK(http(server.port, "GET", "/healthz").status == 200);
}

TEST_CASE("WebSocket echo of text and binary, counted in the metrics", "[net]") {
  NetServer server;
  WsClient ws;
  REQUIRE(ws.connect(server.port, "/echo", std::string("http://127.0.0.1:5173")) == "");
  CHECK(ws.handshake_status() == 101);
  REQUIRE(ws.send_text("hello"));
  WsMessage reply = ws.read(3000);
  CHECK(reply.kind == WsMessage::Kind::text);
  CHECK(reply.data == "hello");

  const std::string audio("\x01\x00\x02\x00\xff\x7f", 6);
  REQUIRE(ws.send_binary(audio));
  reply = ws.read(3000);
  CHECK(reply.kind == WsMessage::Kind::binary);
  CHECK(reply.data == audio);

  // A message of exactly max_ws_message_bytes is fine.
  REQUIRE(ws.send_text(std::string(1024, 'm')));
  reply = ws.read(3000);
  CHECK(reply.data.size() == 1024);

  CHECK(server.wait_for([&] { return server.metrics.frames_out_text == 2; }));
  server.on_io([&] {
    CHECK(server.metrics.ws_connections_total == 1);
    CHECK(server.metrics.ws_connections_open == 1);
    CHECK(server.metrics.frames_in_text == 2);
    CHECK(server.metrics.frames_in_binary == 1);
    CHECK(server.metrics.frames_out_binary == 1);
    CHECK(server.metrics.bytes_in == 5 + 6 + 1024);
    // Every received message was timed, by kind.
    CHECK(server.metrics.ws_handling_text.count == 2);
    CHECK(server.metrics.ws_handling_binary.count == 1);
    return 0;
  });
  const HttpResult scrape = http(server.port, "GET", "/metrics");
  CHECK(scrape.body.find("# TYPE parley_ws_message_handling_seconds histogram\n") != std::string::npos);
  CHECK(scrape.body.find("parley_ws_message_handling_seconds_count{kind=\"text\"} 2\n") !=
        std::string::npos);
  CHECK(scrape.body.find("parley_ws_message_handling_seconds_bucket{kind=\"binary\",le=\"+Inf\"} 1\n") !=
        std::string::npos);

  ws.close(1000);
  CHECK(server.wait_for([&] { return server.app.closed_codes.size() == 1; }));
  server.on_io([&] {
    CHECK(server.app.closed_codes == std::vector<std::uint16_t>{1000});
    CHECK(server.metrics.ws_connections_open == 0);
    return 0;
  });
}

TEST_CASE("a WebSocket message over max_ws_message_bytes gets onerror and close 4413", "[net]") {
  NetServer server;
  WsClient ws;
  REQUIRE(ws.connect(server.port, "/echo") == "");
  REQUIRE(ws.send_text(std::string(1025, 'x')));
  const WsMessage error = ws.read(3000);
  REQUIRE(error.kind == WsMessage::Kind::text);
  const json parsed = parse_json(error.data, "frame", 8).value();
  CHECK(parsed["method"] == "onerror");
  CHECK(parsed["data"]["code"] == "too_large");
  CHECK(parsed["data"]["message"].get<std::string>().find("max_ws_message_bytes (1024") !=
        std::string::npos);
  const WsMessage closed = ws.read(3000);
  CHECK(closed.kind == WsMessage::Kind::closed);
  CHECK(closed.close_code == 4413);
  CHECK(closed.close_reason == "too large");
  CHECK(server.wait_for([&] { return server.app.closed_codes == std::vector<std::uint16_t>{4413}; }));
  // The oversized message never reached the application.
  CHECK(server.on_io([&] { return server.app.texts_received.size(); }) == 0);
  CHECK(error_count(server, "ws_too_large") == 1);
}

TEST_CASE("a huge binary frame is refused without being buffered", "[net]") {
  NetServer server;
  WsClient ws;
  REQUIRE(ws.connect(server.port, "/echo") == "");
  // The server may hang up before the client has written it all: the write may fail.
  ws.send_binary(std::string(300 * 1024, '\0'));
  WsMessage message = ws.read(3000);
  CHECK(message.kind == WsMessage::Kind::text);  // the onerror
  message = ws.read(3000);
  CHECK(message.kind == WsMessage::Kind::closed);
  CHECK(message.close_code == 4413);
}

TEST_CASE("a send queue over max_send_queue is dropped and the socket closed with 1008", "[net]") {
  NetServer server;  // max_send_queue = 16
  WsClient ws;
  REQUIRE(ws.connect(server.port, "/echo") == "");
  REQUIRE(ws.send_text("flood 100"));
  int frames = 0;
  WsMessage message;
  for (;;) {
    message = ws.read(3000);
    if (message.kind != WsMessage::Kind::text) break;
    ++frames;
  }
  CHECK(message.kind == WsMessage::Kind::closed);
  CHECK(message.close_code == 1008);
  // At most the frame in flight plus a full queue went out before the overflow.
  CHECK(frames <= 17);
  CHECK(error_count(server, "send_queue_overflow") == 1);
  CHECK(server.wait_for([&] { return server.app.closed_codes == std::vector<std::uint16_t>{1008}; }));
}

TEST_CASE("text frames go before queued audio; dropped audio never goes out", "[net]") {
  NetServer server;  // max_send_queue = 16
  WsClient ws;
  REQUIRE(ws.connect(server.port, "/echo") == "");
  // Ten audio frames queued at once: the first is being written when the text comes; the
  // text is written next, then the other nine in order.
  REQUIRE(ws.send_text("audio-then-text 10"));
  std::vector<std::string> got;
  for (int i = 0; i < 11; ++i) {
    const WsMessage m = ws.read(3000);
    REQUIRE((m.kind == WsMessage::Kind::text || m.kind == WsMessage::Kind::binary));
    got.push_back(m.kind == WsMessage::Kind::text ? m.data : "audio" + std::to_string(static_cast<int>(m.data[0])));
  }
  CHECK(got == std::vector<std::string>{"audio0", "control", "audio1", "audio2", "audio3", "audio4",
                                        "audio5", "audio6", "audio7", "audio8", "audio9"});
  // Dropped: only the frame already being written goes out, then the text, then nothing.
  REQUIRE(ws.send_text("audio-drop-text 10"));
  WsMessage m = ws.read(3000);
  CHECK(m.kind == WsMessage::Kind::binary);
  m = ws.read(3000);
  CHECK(m.kind == WsMessage::Kind::text);
  CHECK(m.data == "clear");
  REQUIRE(ws.send_text("ping"));
  m = ws.read(3000);
  CHECK(m.kind == WsMessage::Kind::text);
  CHECK(m.data == "ping");
}

TEST_CASE("the handler may close with its own code; queued frames go out first", "[net]") {
  NetServer server;
  WsClient ws;
  REQUIRE(ws.connect(server.port, "/echo") == "");
  REQUIRE(ws.send_text("flood 3"));
  REQUIRE(ws.send_text("close 4404"));
  int frames = 0;
  WsMessage message;
  for (;;) {
    message = ws.read(3000);
    if (message.kind != WsMessage::Kind::text) break;
    ++frames;
  }
  CHECK(frames == 3);
  CHECK(message.kind == WsMessage::Kind::closed);
  CHECK(message.close_code == 4404);
  CHECK(message.close_reason == "bye");
  CHECK(server.wait_for([&] { return server.app.closed_codes == std::vector<std::uint16_t>{4404}; }));
}

TEST_CASE("idle sockets: on_idle_timeout, then the handler's 4408", "[net]") {
  auto config = net_test_config();
  config.server.limits.idle_timeout_s = 1;
  NetServer server(config);
  WsClient ws;
  REQUIRE(ws.connect(server.port, "/echo") == "");
  const auto start = std::chrono::steady_clock::now();
  WsMessage message = ws.read(4000);
  CHECK(message.kind == WsMessage::Kind::text);
  CHECK(message.data.find("idle_timeout") != std::string::npos);
  message = ws.read(4000);
  CHECK(message.kind == WsMessage::Kind::closed);
  CHECK(message.close_code == 4408);
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(waited >= std::chrono::milliseconds(900));
  CHECK(waited < std::chrono::milliseconds(3000));
  CHECK(server.wait_for([&] { return server.app.closed_codes == std::vector<std::uint16_t>{4408}; }));
  CHECK(server.on_io([&] { return server.app.idle_calls; }) == 1);
}

TEST_CASE("idle sockets: traffic postpones the timeout; a silent handler is closed 1 s later", "[net]") {
  auto config = net_test_config();
  config.server.limits.idle_timeout_s = 1;
  NetServer server(config);
  server.on_io([&] { return server.app.close_on_idle = false; });
  WsClient ws;
  REQUIRE(ws.connect(server.port, "/echo") == "");
  // Keep talking for 1.5 s: no timeout meanwhile.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    REQUIRE(ws.send_text("ping"));
    CHECK(ws.read(2000).data == "ping");
  }
  CHECK(server.on_io([&] { return server.app.idle_calls; }) == 0);
  const auto start = std::chrono::steady_clock::now();
  const WsMessage message = ws.read(5000);
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(message.kind == WsMessage::Kind::closed);
  CHECK(message.close_code == 4408);
  CHECK(waited >= std::chrono::milliseconds(1800));  // 1 s idle + 1 s grace
  CHECK(waited < std::chrono::milliseconds(3500));
  CHECK(server.on_io([&] { return server.app.idle_calls; }) == 1);
}

TEST_CASE("the peer's close code reaches on_closed exactly once", "[net]") {
  NetServer server;
  {
    WsClient ws;
    REQUIRE(ws.connect(server.port, "/echo") == "");
    ws.close(4000, "client done");
  }
  {
    WsClient dropped;  // no close frame: the destructor just drops the TCP connection
    REQUIRE(dropped.connect(server.port, "/echo") == "");
  }
  CHECK(server.wait_for([&] { return server.app.closed_codes.size() == 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server.on_io([&] {
    CHECK(server.app.closed_codes == std::vector<std::uint16_t>{4000, 1006});
    CHECK(server.metrics.ws_connections_open == 0);
    return 0;
  });
}

TEST_CASE("close_all closes every WebSocket with the given code and reason", "[net]") {
  NetServer server;
  WsClient first;
  WsClient second;
  REQUIRE(first.connect(server.port, "/echo") == "");
  REQUIRE(second.connect(server.port, "/echo") == "");
  CHECK(server.wait_for([&] { return server.server().connection_count() == 2; }));
  server.on_io([&] {
    server.server().close_all(1001, "server shutting down");
    return 0;
  });
  for (WsClient* ws : {&first, &second}) {
    const WsMessage message = ws->read(3000);
    CHECK(message.kind == WsMessage::Kind::closed);
    CHECK(message.close_code == 1001);
    CHECK(message.close_reason == "server shutting down");
  }
  CHECK(server.wait_for([&] { return server.server().connection_count() == 0; }));
}

TEST_CASE("connections over max_connections are closed at once and counted", "[net]") {
  auto config = net_test_config();
  config.server.limits.max_connections = 2;
  NetServer server(config);
  WsClient first;
  WsClient second;
  REQUIRE(first.connect(server.port, "/echo") == "");
  REQUIRE(second.connect(server.port, "/echo") == "");
  const HttpResult refused = http(server.port, "GET", "/healthz", "", {}, 2000);
  CHECK(!refused.ok());
  CHECK(error_count(server, "too_many_connections") == 1);
  first.close();
  CHECK(server.wait_for([&] { return server.server().connection_count() == 1; }));
  CHECK(http(server.port, "GET", "/healthz").status == 200);
}

TEST_CASE("listen refuses a taken port and a bad address", "[net]") {
  NetServer first;
  auto config = net_test_config();
  config.server.listen = "127.0.0.1:" + std::to_string(first.port);
  boost::asio::io_context io;
  NetTestApp app(io);
  host::Metrics metrics;
  host::Server second(io, config, app, metrics);
  auto taken = second.listen();
  REQUIRE(!taken);
  CHECK(taken.error().code == "listen_failed");
  CHECK(taken.error().message.find(std::to_string(first.port)) != std::string::npos);

  config.server.listen = "not an address";
  host::Server third(io, config, app, metrics);
  auto bad = third.listen();
  REQUIRE(!bad);
  CHECK(bad.error().code == "bad_listen");
}

// ---- the program

namespace {

std::string demo_config_path() {
  return std::string(PARLEY_SOURCE_DIR) + "/host/demo/config.json";
}

}  // namespace

TEST_CASE("parley-host: --help, --version, bad usage and bad config", "[net]") {
  TempDir dir;
  {
    HostProcess help(HostProcess::Options{{"--help"}, false, "", "", 5000});
    CHECK(help.first_line().rfind("usage: parley-host --config FILE", 0) == 0);
    CHECK(help.wait() == 0);
  }
  {
    HostProcess version(HostProcess::Options{{"--version"}, false, "", "", 5000});
    CHECK(version.first_line() == "parley-host 0.1.0");
    CHECK(version.wait() == 0);
  }
  {
    HostProcess unknown(HostProcess::Options{{"--config", demo_config_path(), "--bogus"}, false, "", "", 5000});
    CHECK(unknown.wait() == 64);
    CHECK(unknown.log_text().find("--bogus") != std::string::npos);
  }
  {
    HostProcess no_config(HostProcess::Options{{}, false, "", "", 5000});
    CHECK(no_config.wait() == 64);
    CHECK(no_config.log_text().find("--config") != std::string::npos);
  }
  {
    HostProcess bad_listen(HostProcess::Options{{"--config", demo_config_path(), "--listen", "nowhere"}, false, "", "", 5000});
    CHECK(bad_listen.wait() == 64);
    CHECK(bad_listen.log_text().find("--listen") != std::string::npos);
  }
  {
    const std::string config = dir.write("bad.json", R"({"server":{"listen":"127.0.0.1:0"},"agents":[]})");
    HostProcess bad_config({"--config", config, "--db", dir.file("x.db")});
    CHECK(bad_config.port() == 0);
    CHECK(bad_config.wait() == 2);
    CHECK(!bad_config.log_text().empty());
  }
}

TEST_CASE("parley-host prints its URLs, serves, and exits 0 on SIGTERM", "[net]") {
  TempDir dir;
  HostProcess host({"--config", demo_config_path(), "--db", dir.file("host.db"), "--log-level", "debug"});
  INFO(host.start_error());
  REQUIRE(host.port() != 0);
  CHECK(host.first_line() ==
        "parley-host listening on http://127.0.0.1:" + std::to_string(host.port()) + "/");
  const auto lines = host.stdout_lines();
  REQUIRE(lines.size() >= 2);
  CHECK(lines[1] == "  agent demo: http://127.0.0.1:" + std::to_string(host.port()) +
                        "/embed?id=demo&k=demo-public-key");
  CHECK(http(host.port(), "GET", "/healthz").status == 200);

  // A WebSocket open at shutdown is closed with 1001 "server shutting down", and the host
  // exits 0 as soon as the closing handshake is done.
  WsClient ws;
  REQUIRE(ws.connect(host.port(), "/v1/voice") == "");
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(::kill(host.pid(), SIGTERM) == 0);
  const WsMessage message = ws.read(5000);
  CHECK(message.kind == WsMessage::Kind::closed);
  CHECK(message.close_code == 1001);
  CHECK(message.close_reason == "server shutting down");
  CHECK(host.wait(10000) == 0);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
  INFO(host.log_text());
  CHECK(host.log_text().find("host.stopped") != std::string::npos);
  CHECK(std::filesystem::exists(dir.file("host.db")));
}

TEST_CASE("Duration histograms render as cumulative Prometheus buckets in seconds", "[net]") {
  host::DurationHistogram h;
  h.observe_us(0);        // first bucket (<= 2 us)
  h.observe_us(2);        // a value on a bound belongs to that bound's bucket
  h.observe_us(4999);     // <= 5 ms
  h.observe_us(5000);     // <= 5 ms
  h.observe_us(5001);     // <= 7.5 ms
  h.observe_us(9000000);  // beyond the last bound: +Inf only
  std::string out;
  h.render(out, "x_seconds", "kind=\"a\"");
  CHECK(out.find("parley_x_seconds_bucket{kind=\"a\",le=\"0.000002\"} 2\n") != std::string::npos);
  CHECK(out.find("parley_x_seconds_bucket{kind=\"a\",le=\"0.004\"} 2\n") != std::string::npos);
  CHECK(out.find("parley_x_seconds_bucket{kind=\"a\",le=\"0.005\"} 4\n") != std::string::npos);
  CHECK(out.find("parley_x_seconds_bucket{kind=\"a\",le=\"0.0075\"} 5\n") != std::string::npos);
  CHECK(out.find("parley_x_seconds_bucket{kind=\"a\",le=\"1\"} 5\n") != std::string::npos);
  CHECK(out.find("parley_x_seconds_bucket{kind=\"a\",le=\"+Inf\"} 6\n") != std::string::npos);
  CHECK(out.find("parley_x_seconds_sum{kind=\"a\"} 9.015002\n") != std::string::npos);
  CHECK(out.find("parley_x_seconds_count{kind=\"a\"} 6\n") != std::string::npos);

  std::string unlabelled;
  host::DurationHistogram().render(unlabelled, "y_seconds", "");
  CHECK(unlabelled.find("parley_y_seconds_bucket{le=\"+Inf\"} 0\n") != std::string::npos);
  CHECK(unlabelled.find("parley_y_seconds_sum 0\n") != std::string::npos);
}
