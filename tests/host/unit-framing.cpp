// Issue 14, HTTP framing by RFC 9112 (§2.2, §3.2, §5.1, §5.2, §6.1, §6.3): raw bytes over TCP
// against a real Server (host/src/net) with the network test application. Every refused shape
// carries a second request after its header ("smuggled"); the test checks the answer (status,
// error code, a message naming the field), that the connection is closed right after it, and
// that the smuggled request was never served (one response, the request counter unchanged).
// Accepted shapes check the body the application received and that a pipelined request after
// them is served on the same connection.
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "net_test_app.hpp"
#include "test_client.hpp"
#include "parley/json.hpp"

using namespace parley;
using namespace parley::test;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

struct RawReply {
  std::string bytes;
  bool closed = false;  // the server ended the connection (EOF or reset) before the deadline
};

// Sends `bytes` on a fresh connection and reads until the server closes it or `timeout_ms`.
RawReply raw_session(std::uint16_t port, const std::string& bytes, int timeout_ms = 3000) {
  RawReply reply;
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return reply;
  asio::write(socket, asio::buffer(bytes), ec);  // a server that closed early is fine
  std::array<char, 4096> chunk{};
  std::function<void()> read_more = [&] {
    socket.async_read_some(asio::buffer(chunk), [&](boost::system::error_code e, std::size_t n) {
      reply.bytes.append(chunk.data(), n);
      if (e) {
        reply.closed = true;
        return;
      }
      read_more();
    });
  };
  read_more();
  asio::steady_timer timer(io, std::chrono::milliseconds(timeout_ms));
  timer.async_wait([&](boost::system::error_code e) {
    if (!e) socket.close();
  });
  while (!reply.closed && io.run_one()) {
  }
  timer.cancel();
  return reply;
}

struct Response {
  unsigned status = 0;
  std::string body;
  std::string error_code;     // the JSON error's code, when there is one
  std::string error_message;  // and its message
};

// Every complete response in `bytes`, in order.
std::vector<Response> responses_in(const std::string& bytes) {
  std::vector<Response> out;
  boost::beast::flat_buffer buffer;
  auto space = buffer.prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  buffer.commit(bytes.size());
  while (buffer.size() > 0) {
    bhttp::response_parser<bhttp::string_body> parser;
    boost::beast::error_code ec;
    while (!parser.is_done()) {
      const std::size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec || used == 0) break;
    }
    if (!parser.is_done()) break;
    Response r;
    r.status = parser.get().result_int();
    r.body = parser.get().body();
    if (auto parsed = parse_json(r.body, "body", 8); parsed && parsed->is_object() &&
                                                      parsed->contains("error")) {
      r.error_code = (*parsed)["error"].value("code", "");
      r.error_message = (*parsed)["error"].value("message", "");
    }
    out.push_back(std::move(r));
  }
  return out;
}

const std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

struct Refused {
  const char* name;
  std::string request;  // the bytes before the smuggled request
  unsigned status;
  const char* code;
  const char* says;  // a part of the message
};

std::uint64_t requests_served(NetServer& server) {
  return server.on_io([&] { return server.metrics.http_requests; });
}

}  // namespace

TEST_CASE("issue 14: every framing shape RFC 9112 refuses is 400/501, then the connection closes",
          "[framing]") {
  NetServer server;
  REQUIRE(server.port != 0);
  const std::string post = "POST /app/echo HTTP/1.1\r\nHost: x\r\n";
  const std::vector<Refused> cases = {
      // §6.3 item 4: a Transfer-Encoding whose final coding is not chunked.
      {"TE chunked, identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n", 400,
       "bad_framing", "final transfer coding must be chunked"},
      {"TE identity", post + "Transfer-Encoding: identity\r\n\r\n", 400, "bad_framing",
       "\"identity\""},
      {"TE gzip", post + "Transfer-Encoding: gzip\r\n\r\n", 400, "bad_framing", "\"gzip\""},
      {"TE xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n", 400, "bad_framing",
       "\"xchunked\""},
      {"TE quoted chunked", post + "Transfer-Encoding: \"chunked\"\r\n\r\n", 400, "bad_framing",
       "final transfer coding"},
      {"TE empty", post + "Transfer-Encoding: \r\n\r\n", 400, "bad_framing",
       "final transfer coding"},
      // Regression (fuzz-host-framing, fresh-clone CI of 9d76cba): an empty line before the
      // chunked one was served while an empty line after it was refused.
      {"TE empty line, then chunked",
       post + "Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       400, "bad_framing", "a field line with no transfer coding"},
      {"TE ', ' line, then chunked",
       post + "Transfer-Encoding: , \r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       400, "bad_framing", "a field line with no transfer coding"},
      {"TE chunked with a parameter", post + "Transfer-Encoding: chunked;q=1\r\n\r\n", 400,
       "bad_framing", "final transfer coding"},
      {"TE chunked then gzip on two lines",
       post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "bad_framing",
       "final transfer coding must be chunked"},
      {"TE chunked, chunked", post + "Transfer-Encoding: chunked, chunked\r\n\r\n", 400,
       "bad_framing", "more than once"},
      {"TE chunked on two lines",
       post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       "bad_framing", "applied once"},
      // §6.1: a coding we do not implement before the final chunked.
      {"TE gzip, chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501,
       "not_implemented", "\"gzip\""},
      // §6.1, §6.3 item 3: Transfer-Encoding with Content-Length, in either order.
      {"TE chunked then CL", post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400,
       "bad_framing", "together with Content-Length"},
      {"CL then TE chunked", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       "bad_framing", "together with Content-Length"},
      {"TE identity then CL", post + "Transfer-Encoding: identity\r\nContent-Length: 0\r\n\r\n",
       400, "bad_framing", "together with Content-Length"},
      // §6.1: HTTP/1.0 with Transfer-Encoding is faulty framing, whatever else it has.
      {"HTTP/1.0 with TE chunked",
       "POST /app/echo HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n",
       400, "bad_framing", "HTTP/1.0"},
      // §6.3 item 5: a Content-Length that is not one decimal number.
      {"CL not a number", post + "Content-Length: abc\r\n\r\n", 400, "bad_framing",
       "Content-Length"},
      {"CL with a sign", post + "Content-Length: +5\r\n\r\n", 400, "bad_framing",
       "Content-Length"},
      {"CL negative", post + "Content-Length: -1\r\n\r\n", 400, "bad_framing", "Content-Length"},
      {"CL empty", post + "Content-Length: \r\n\r\n", 400, "bad_framing", "Content-Length"},
      {"CL list of differing values", post + "Content-Length: 5, 6\r\n\r\n", 400, "bad_framing",
       "Content-Length"},
      {"CL repeated, differing", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400,
       "bad_framing", "differing"},
      {"CL overflowing 64 bits", post + "Content-Length: 99999999999999999999999\r\n\r\n", 400,
       "bad_framing", "Content-Length"},
      // §3.2: Host.
      {"no Host in HTTP/1.1", "GET /healthz HTTP/1.1\r\n\r\n", 400, "bad_host", "missing"},
      {"two Host lines", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "bad_host",
       "2 field lines"},
      {"two Host lines, the same value", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
       400, "bad_host", "2 field lines"},
      {"Host with a space", "GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "bad_host",
       "\"a b\""},
      {"Host with a path", "GET /healthz HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "bad_host",
       "not host[:port]"},
      {"Host with a bad port", "GET /healthz HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400, "bad_host",
       "not host[:port]"},
      {"Host with userinfo", "GET /healthz HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, "bad_host",
       "not host[:port]"},
      {"two Hosts in HTTP/1.0", "GET /healthz HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400,
       "bad_host", "2 field lines"},
      // §5.2: obs-fold is refused rather than joined; §5.1 no whitespace before the colon.
      {"obs-fold", post + "X-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n", 400, "bad_framing",
       "obs-fold"},
      {"obs-fold in Transfer-Encoding", post + "Transfer-Encoding: gzip,\r\n chunked\r\n\r\n", 400,
       "bad_framing", "obs-fold"},
      {"whitespace before the colon", post + "Content-Length : 5\r\n\r\nhello", 400,
       "bad_request", "colon"},
      {"whitespace before the first field", "POST /app/echo HTTP/1.1\r\n Host: x\r\n\r\n", 400,
       "bad_request", "field line"},
      // §2.2: lines end in CRLF; no bare CR.
      {"bare LF line endings", "GET /healthz HTTP/1.1\nHost: x\n\n", 400, "bad_request",
       "HTTP version"},
      {"bare CR in a field", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n", 400,
       "bad_request", "line ending"},
      {"a control character in a field value", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\x01\r\n\r\n",
       400, "bad_request", "control character"},
      // §7.1: chunk sizes.
      {"chunk size not hex", post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
       400, "bad_request", "chunk"},
      {"chunk size 0x-prefixed", post + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
       400, "bad_request", "chunk"},
      {"chunk size overflowing", post +
                                     "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
       400, "bad_request", "chunk"},
      {"chunk data longer than its size",
       post + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400, "bad_request",
       "chunk"},
      // Limits, with the framing decided first.
      {"chunked body over max_body_bytes",
       post + "Transfer-Encoding: chunked\r\n\r\n500\r\n" + std::string(0x500, 'a') + "\r\n0\r\n\r\n",
       413, "body_too_large", "max_body_bytes (1024"},
      {"Content-Length over max_body_bytes", post + "Content-Length: 5000\r\n\r\n", 413,
       "body_too_large", "max_body_bytes (1024"},
      {"header over max_header_bytes", post + "X-Big: " + std::string(3000, 'h') + "\r\n\r\n", 431,
       "header_too_large", "max_header_bytes (2048"},
      // The request line.
      {"HTTP/2.0 request line", "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 400, "bad_request",
       "HTTP version"},
      {"lowercase http version", "GET /healthz http/1.1\r\nHost: x\r\n\r\n", 400, "bad_request",
       "HTTP version"},
      {"two spaces in the request line", "GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400,
       "bad_request", "request-target"},
  };
  for (const auto& c : cases) {
    INFO("case: " << c.name);
    const std::uint64_t before = requests_served(server);
    const RawReply reply = raw_session(server.port, c.request + smuggled);
    INFO("reply: " << reply.bytes);
    CHECK(reply.closed);
    const auto responses = responses_in(reply.bytes);
    REQUIRE(responses.size() == 1);  // the smuggled request got no answer
    CHECK(responses[0].status == c.status);
    CHECK(responses[0].error_code == c.code);
    CHECK(responses[0].error_message.find(c.says) != std::string::npos);
    CHECK(requests_served(server) == before);  // nothing reached the application
  }
  CHECK(server.on_io([&] { return server.metrics.errors["http_bad_framing"]; }) >= 20);
  CHECK(server.on_io([&] { return server.metrics.errors["http_bad_host"]; }) >= 7);
  // The server carries on.
  CHECK(http(server.port, "GET", "/healthz").status == 200);
}

TEST_CASE("issue 14: framing RFC 9112 accepts reaches the application, and the next request too",
          "[framing]") {
  NetServer server;
  REQUIRE(server.port != 0);
  struct Accepted {
    const char* name;
    std::string request;
    std::string echoed;  // the body of the first response ("" when not the echo route)
  };
  const std::string post = "POST /app/echo HTTP/1.1\r\nHost: x\r\n";
  const std::vector<Accepted> cases = {
      {"Content-Length", post + "Content-Length: 5\r\n\r\nhello", "POST hello"},
      {"Content-Length list of equal values", post + "Content-Length: 5, 5\r\n\r\nhello",
       "POST hello"},
      {"Content-Length repeated, equal", post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
       "POST hello"},
      {"chunked", post + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
       "POST hello world"},
      {"Chunked in any case", post + "Transfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       "POST hello"},
      {"chunked with extensions and a trailer",
       post + "Transfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
       "POST hello"},
      {"chunked with empty list elements", post + "Transfer-Encoding: ,chunked,\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       "POST hello"},
      {"no body", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", ""},
      {"empty lines before the request line", "\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", ""},
      {"an empty Host (RFC 9112 §3.2)", "GET /healthz HTTP/1.1\r\nHost: \r\n\r\n", ""},
      {"Host with a port", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", ""},
      {"Host an IPv6 literal", "GET /healthz HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", ""},
      {"HTTP/1.0 keep-alive with Host", "GET /healthz HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", ""},
  };
  for (const auto& c : cases) {
    INFO("case: " << c.name);
    const RawReply reply =
        raw_session(server.port, c.request + "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    INFO("reply: " << reply.bytes);
    CHECK(reply.closed);
    const auto responses = responses_in(reply.bytes);
    REQUIRE(responses.size() == 2);
    CHECK(responses[0].status == 200);
    if (!c.echoed.empty()) CHECK(responses[0].body == c.echoed);
    CHECK(responses[1].status == 200);
    CHECK(responses[1].body == "{\"status\":\"ok\"}");
  }
}

TEST_CASE("issue 14: HTTP/1.0 without Host is served (RFC 9112 §3.2 asks it of HTTP/1.1), then closed",
          "[framing]") {
  NetServer server;
  {
    const RawReply reply = raw_session(server.port, "GET /healthz HTTP/1.0\r\n\r\n" + smuggled);
    CHECK(reply.closed);
    const auto responses = responses_in(reply.bytes);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 200);
  }
}

TEST_CASE("issue 14: a chunked request split into single bytes is read the same", "[framing]") {
  NetServer server;
  const std::string post = "POST /app/echo HTTP/1.1\r\nHost: x\r\n";
  {
    // Segmentation: the server reads what arrives; the fuzz target checks this for any split.
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), server.port});
    const std::string request = post + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    for (char c : request) {
      asio::write(socket, asio::buffer(&c, 1));
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    std::string got;
    boost::system::error_code ec;
    std::array<char, 4096> chunk{};
    while (!ec) got.append(chunk.data(), socket.read_some(asio::buffer(chunk), ec));
    const auto responses = responses_in(got);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].body == "POST hello");
  }
}
