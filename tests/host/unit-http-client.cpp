// The host's one HTTP client (issue 15) against a real local server that writes its replies
// piece by piece (tests/host/test_llm_server.hpp): kept-alive connections reused, pieces
// handed over as they arrive, an idle timeout per read rather than one deadline, no cap on a
// long body, cancel closing the connection at once, and a reused connection the server had
// closed retried once when the request allows it.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include "parley/host/http_client.hpp"
#include "test_client.hpp"
#include "test_http_server.hpp"
#include "test_llm_server.hpp"

using namespace parley::host;
using namespace parley::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Outcome {
  unsigned status = 0;
  std::string body;
  std::vector<double> piece_ms;  // when each piece arrived, since the request
  std::optional<parley::Status> end;
  bool reused = false;
};

struct Rig {
  boost::asio::io_context io;
  HttpClient http{io};

  Outcome fetch(HttpStreamRequest request) {
    Outcome out;
    const auto t0 = Clock::now();
    HttpStreamHandlers h;
    h.on_head = [&](const HttpStreamHead& head) { out.status = head.status; };
    h.on_data = [&](std::string_view piece) {
      out.body.append(piece);
      out.piece_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    };
    h.on_end = [&](parley::Status s) { out.end = std::move(s); };
    auto call = http.stream(std::move(request), std::move(h));
    REQUIRE(run_until(io, [&] { return out.end.has_value(); }, 20s));
    out.reused = call->reused_connection();
    return out;
  }
};

HttpStreamRequest get(const std::string& url) {
  HttpStreamRequest r;
  r.url = url;
  r.method = "GET";
  return r;
}

StreamReply pieces(std::vector<std::string> parts, std::uint32_t gap_ms,
                   StreamReply::Framing framing = StreamReply::Framing::chunked) {
  StreamReply r;
  r.headers = {{"Content-Type", "text/plain"}};
  r.framing = framing;
  for (auto& p : parts) r.pieces.push_back(StreamPiece{gap_ms, std::move(p), false});
  return r;
}

}  // namespace

TEST_CASE("a kept-alive connection carries the next request", "[http-client]") {
  StreamServer server([](const SeenRequest&) { return pieces({"one", "two"}, 0); });
  Rig rig;
  Outcome first = rig.fetch(get(server.url("/a")));
  REQUIRE(first.end->ok());
  CHECK(first.body == "onetwo");
  CHECK_FALSE(first.reused);
  CHECK(rig.http.idle_connections() == 1);
  Outcome second = rig.fetch(get(server.url("/b")));
  REQUIRE(second.end->ok());
  CHECK(second.reused);
  CHECK(server.connections() == 1);
  auto requests = server.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].connection == requests[1].connection);
  CHECK(rig.http.connections_opened() == 1);
}

TEST_CASE("every framing of a body arrives whole; a closing reply is not kept", "[http-client]") {
  for (auto framing : {StreamReply::Framing::chunked, StreamReply::Framing::length,
                       StreamReply::Framing::close}) {
    StreamServer server([framing](const SeenRequest&) { return pieces({"a", "bc", "def"}, 5, framing); });
    Rig rig;
    Outcome out = rig.fetch(get(server.url("/x")));
    INFO("framing " << static_cast<int>(framing));
    REQUIRE(out.end->ok());
    CHECK(out.body == "abcdef");
    CHECK(rig.http.idle_connections() == (framing == StreamReply::Framing::close ? 0u : 1u));
  }
}

TEST_CASE("pieces are handed over as they arrive", "[http-client]") {
  StreamServer server([](const SeenRequest&) {
    StreamReply r = pieces({"first", "second"}, 0);
    r.pieces[1].delay_ms = 400;
    return r;
  });
  Rig rig;
  Outcome out = rig.fetch(get(server.url("/s")));
  REQUIRE(out.end->ok());
  REQUIRE(out.piece_ms.size() == 2);
  CHECK(out.piece_ms[0] < 250);  // not held until the body ends
  CHECK(out.piece_ms[1] >= 390);
}

TEST_CASE("the idle timeout bounds each read, not the whole exchange", "[http-client]") {
  SECTION("a slow stream that keeps coming is read to its end") {
    StreamServer server([](const SeenRequest&) {
      return pieces({"1", "2", "3", "4", "5", "6", "7", "8"}, 120);
    });
    Rig rig;
    HttpStreamRequest r = get(server.url("/slow"));
    r.idle_timeout_ms = 400;
    Outcome out = rig.fetch(r);
    REQUIRE(out.end->ok());
    CHECK(out.body == "12345678");
    CHECK(out.piece_ms.back() > 800);  // twice the idle timeout, and never cut
  }
  SECTION("a stream that stops is cut after the idle timeout") {
    StreamServer server([](const SeenRequest&) {
      StreamReply r = pieces({"start", "never"}, 0);
      r.pieces[1].delay_ms = 5000;
      return r;
    });
    Rig rig;
    HttpStreamRequest r = get(server.url("/stall"));
    r.idle_timeout_ms = 300;
    const auto t0 = Clock::now();
    Outcome out = rig.fetch(r);
    const auto took = Clock::now() - t0;
    REQUIRE_FALSE(out.end->ok());
    CHECK(out.end->error().code == "http_timeout");
    CHECK_THAT(out.end->error().message, Catch::Contains("300 ms"));
    CHECK(out.body == "start");
    CHECK(took >= 290ms);
    CHECK(took < 2s);
  }
}

TEST_CASE("no cap cuts a long body", "[http-client]") {
  const std::string block(64 * 1024, 'x');
  StreamServer server([&](const SeenRequest&) {
    std::vector<std::string> parts(80, block);  // 5 MiB
    return pieces(parts, 0);
  });
  Rig rig;
  Outcome out = rig.fetch(get(server.url("/big")));
  REQUIRE(out.end->ok());
  CHECK(out.body.size() == 80 * block.size());
}

TEST_CASE("cancel closes the connection at once", "[http-client]") {
  StreamServer server([](const SeenRequest&) {
    std::vector<std::string> parts(100, "tick ");
    return pieces(parts, 50);
  });
  Rig rig;
  std::shared_ptr<HttpCall> call;
  std::size_t got = 0;
  double cancelled_at = 0;
  HttpStreamHandlers h;
  h.on_data = [&](std::string_view piece) {
    got += piece.size();
    if (got >= 15 && call) {
      cancelled_at = server.now_ms();
      call->cancel();
    }
  };
  h.on_end = [&](parley::Status) { FAIL("no handler runs after cancel"); };
  call = rig.http.stream(get(server.url("/ticks")), std::move(h));
  REQUIRE(run_until(rig.io, [&] { return cancelled_at > 0; }, 10s));
  REQUIRE(server.wait_for_closes(1, 2s));
  auto closes = server.closes();
  CHECK(closes[0].mid_reply);
  CHECK(closes[0].at_ms - cancelled_at < 20.0);  // the server sees it within one audio frame
  run_until(rig.io, [] { return false; }, 200ms);  // on_end must not come
  CHECK(rig.http.idle_connections() == 0);
}

TEST_CASE("a reused connection closed before any reply is retried once when replayable",
          "[http-client]") {
  int n = 0;
  StreamServer server([&](const SeenRequest&) {
    ++n;
    StreamReply r = pieces({"ok"}, 0);
    if (n == 2) r.close_without_reply = true;  // the keep-alive race, on the reused connection
    return r;
  });
  Rig rig;
  REQUIRE(rig.fetch(get(server.url("/1"))).end->ok());
  HttpStreamRequest second = get(server.url("/2"));
  second.replayable = true;
  Outcome out = rig.fetch(second);
  REQUIRE(out.end->ok());
  CHECK(out.body == "ok");
  CHECK(server.requests().size() == 3);
  CHECK(server.connections() == 2);

  // Not replayable: the failure is the caller's to see.
  n = 1;
  HttpStreamRequest third;
  third.url = server.url("/3");
  third.body = "{}";
  Outcome failed = rig.fetch(third);
  REQUIRE_FALSE(failed.end->ok());
  CHECK(failed.end->error().code == "http_cut");
}

TEST_CASE("an idle connection the server closes leaves the pool", "[http-client]") {
  StreamServer server([](const SeenRequest&) { return pieces({"ok"}, 0); });
  Rig rig;
  REQUIRE(rig.fetch(get(server.url("/1"))).end->ok());
  CHECK(rig.http.idle_connections() == 1);
  server.close_idle_connections();
  REQUIRE(run_until(rig.io, [&] { return rig.http.idle_connections() == 0; }, 2s));
  Outcome again = rig.fetch(get(server.url("/2")));
  REQUIRE(again.end->ok());
  CHECK_FALSE(again.reused);
}

TEST_CASE("status, headers and bodies of a refusal reach the caller", "[http-client]") {
  StreamServer server([](const SeenRequest&) {
    StreamReply r;
    r.status = 429;
    r.reason = "Too Many Requests";
    r.headers = {{"Retry-After", "7"}, {"Content-Type", "application/json"}};
    r.framing = StreamReply::Framing::length;
    r.pieces = {StreamPiece{0, R"({"error":"slow down"})", false}};
    return r;
  });
  Rig rig;
  std::string retry;
  Outcome out;
  HttpStreamHandlers h;
  h.on_head = [&](const HttpStreamHead& head) {
    out.status = head.status;
    retry = head.header("retry-after");
  };
  h.on_data = [&](std::string_view p) { out.body.append(p); };
  h.on_end = [&](parley::Status s) { out.end = s; };
  rig.http.stream(get(server.url("/r")), std::move(h));
  REQUIRE(run_until(rig.io, [&] { return out.end.has_value(); }, 5s));
  CHECK(out.end->ok());
  CHECK(out.status == 429);
  CHECK(retry == "7");
  CHECK(out.body == R"({"error":"slow down"})");
}

TEST_CASE("webhooks and tools ride the same kept-alive connections", "[http-client]") {
  StreamServer server([](const SeenRequest&) {
    StreamReply r;
    r.headers = {{"Content-Type", "application/json"}};
    r.framing = StreamReply::Framing::length;
    r.pieces = {StreamPiece{0, R"({"ok":true})", false}};
    return r;
  });
  Rig rig;
  parley::host::WebhookConfig hook;
  hook.url = server.url("/hook");
  for (int i = 0; i < 3; ++i) {
    std::optional<parley::Result<HttpClientResponse>> result;
    rig.http.request(hook, "{}", {}, [&](parley::Result<HttpClientResponse> r) { result = std::move(r); });
    REQUIRE(run_until(rig.io, [&] { return result.has_value(); }, 5s));
    REQUIRE(result->ok());
    CHECK((*result)->body == R"({"ok":true})");
  }
  CHECK(server.connections() == 1);
  CHECK(server.requests().size() == 3);
}

TEST_CASE("the connect timeout covers a peer that never answers the handshake", "[http-client]") {
  // A listener whose backlog is never accepted still completes TCP handshakes; a TLS
  // handshake to it then waits forever: the connect timeout must end it.
  TestHttpServer plain;  // speaks HTTP, not TLS: the handshake fails fast instead
  Rig rig;
  HttpStreamRequest r = get("https://127.0.0.1:" + std::to_string(plain.port()) + "/x");
  r.connect_timeout_ms = 1000;
  Outcome out = rig.fetch(r);
  REQUIRE_FALSE(out.end->ok());
  CHECK((out.end->error().code == "http_connect" || out.end->error().code == "http_timeout"));
}

// ---- TLS ---------------------------------------------------------------------------------

namespace {

// A TLS server on loopback for one connection at a time: a certificate made at test time
// (openssl req, for IP 127.0.0.1), every request answered with a chunked two-piece body on
// the same connection, for as long as the client keeps it.
class TlsServer {
 public:
  explicit TlsServer(const std::string& dir) : ctx_(boost::asio::ssl::context::tls_server) {
    cert_ = dir + "/cert.pem";
    key_ = dir + "/key.pem";
    const std::string command =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=parley-test "
        "-addext subjectAltName=IP:127.0.0.1 -keyout " + key_ + " -out " + cert_ +
        " >/dev/null 2>&1";
    ok_ = std::system(command.c_str()) == 0;
    if (!ok_) return;
    ctx_.use_certificate_chain_file(cert_);
    ctx_.use_private_key_file(key_, boost::asio::ssl::context::pem);
    acceptor_.open(boost::asio::ip::tcp::v4());
    acceptor_.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    thread_ = std::thread([this] { serve(); });
  }
  ~TlsServer() {
    stop_ = true;
    if (thread_.joinable()) {
      // A blocking accept() is not woken by closing its socket: connect once instead.
      boost::asio::io_context io;
      boost::asio::ip::tcp::socket poke(io);
      boost::system::error_code ignored;
      poke.connect({boost::asio::ip::make_address("127.0.0.1"), port()}, ignored);
      thread_.join();
    }
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }
  bool ok() const { return ok_; }
  const std::string& cert() const { return cert_; }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int connections() const { return connections_; }

 private:
  void serve() {
    while (!stop_) {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec || stop_) return;
      ++connections_;
      boost::asio::ssl::stream<boost::asio::ip::tcp::socket> tls(std::move(socket), ctx_);
      tls.handshake(boost::asio::ssl::stream_base::server, ec);
      if (ec) continue;
      std::string buffer;
      for (;;) {
        char chunk[4096];
        const std::size_t n = tls.read_some(boost::asio::buffer(chunk), ec);
        if (ec) break;
        buffer.append(chunk, n);
        const auto end = buffer.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        buffer.erase(0, end + 4);  // GET requests: no body
        const std::string reply =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            "6\r\nsecure\r\n6\r\n-piece\r\n0\r\n\r\n";
        boost::asio::write(tls, boost::asio::buffer(reply), ec);
        if (ec) break;
      }
    }
  }

  boost::asio::io_context io_;
  boost::asio::ssl::context ctx_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::string cert_, key_;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

}  // namespace

TEST_CASE("TLS: the peer is verified, the stream read and the connection kept", "[http-client]") {
  TempDir dir;
  TlsServer server(dir.path());
  REQUIRE(server.ok());
  const std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/s";
  {
    // Trusting the test's certificate (as a private CA would be): two exchanges, one
    // connection.
    boost::asio::io_context io;
    HttpClientOptions options;
    options.extra_ca_file = server.cert();
    HttpClient http(io, options);
    for (int i = 0; i < 2; ++i) {
      std::optional<parley::Status> end;
      std::string body;
      bool reused = false;
      HttpStreamHandlers h;
      h.on_data = [&](std::string_view p) { body.append(p); };
      h.on_end = [&](parley::Status s) { end = s; };
      auto call = http.stream(get(url), std::move(h));
      REQUIRE(run_until(io, [&] { return end.has_value(); }, 10s));
      INFO((end->ok() ? "" : end->error().message));
      REQUIRE(end->ok());
      CHECK(body == "secure-piece");
      reused = call->reused_connection();
      CHECK(reused == (i == 1));
    }
    CHECK(server.connections() == 1);
  }
  {
    // Not trusted by the system's CAs: refused, saying why.
    Rig rig;
    Outcome out = rig.fetch(get(url));
    REQUIRE_FALSE(out.end->ok());
    CHECK(out.end->error().code == "http_connect");
    CHECK_THAT(out.end->error().message, Catch::Contains("TLS"));
  }
}
