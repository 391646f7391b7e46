// The host's one outgoing HTTP/1.1 client (Beast), for everything the host calls: webhooks,
// tools, the prefetch, and the LLM's streamed chat completions (issue 15).
//
// - Connections are kept alive and reused: a pool per upstream (scheme, host, port) holds the
//   idle ones. An idle connection is watched (the socket's readability): a server that closes
//   it, or sends anything unasked, takes it out of the pool at once. Idle connections expire
//   after HttpClientOptions::idle_keep_ms.
// - http:// and https://; TLS 1.2+ verifies the peer against the system's CA store (plus an
//   optional extra CA file) and the URL's host name, with SNI for names.
// - Time: the connect timeout covers resolve + TCP + TLS; then every write and every read
//   must make progress within the idle timeout (a long answer that keeps coming is never cut);
//   an optional total timeout bounds the whole exchange (webhooks and tools use one).
// - No body cap in stream(): pieces go to the caller as they arrive, who bounds what it keeps.
//   request() (buffered) caps the reply body at 1 MiB.
// - A reused connection that turns out closed before any reply byte arrived (the server's
//   keep-alive timer raced our request) is retried once on a fresh connection, when the
//   request says it is replayable.
// Everything runs on the io thread; callbacks too, never from inside the call that starts
// an exchange.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "parley/host/config.hpp"
#include "parley/result.hpp"

namespace parley::host {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpClientOptions {
  std::uint32_t idle_keep_ms = 90000;      // an idle kept-alive connection is closed after this
  std::uint32_t max_idle_per_upstream = 8;  // more idle ones than this are closed
  std::string extra_ca_file;  // PEM, trusted besides the system's CAs (tests; private CAs)
};

// One streamed exchange. Error codes of HttpStreamHandlers::on_end: "http_bad_url",
// "http_bad_header" (a header name or value with CR, LF or NUL, or an empty name),
// "http_connect" (resolve, TCP or TLS), "http_timeout" (connect, idle or total), "http_io",
// "http_bad_reply" (not HTTP/1.x), "http_too_large" (reply headers over 16 KiB), "http_cut"
// (the connection ended before the body did). Messages name the upstream's host:port and what failed; they never
// contain header values (an Authorization stays out of logs).
struct HttpStreamRequest {
  std::string url;
  std::string method = "POST";  // POST or GET (GET sends no body)
  HeaderList headers;           // sent as given, after User-Agent / Content-Type / Accept
  std::string body;
  std::string content_type = "application/json";  // for a body
  std::string accept = "application/json";
  std::uint32_t connect_timeout_ms = 5000;
  std::uint32_t idle_timeout_ms = 30000;
  std::uint32_t total_timeout_ms = 0;  // 0 = none
  bool replayable = false;  // may be sent again after a reused connection failed unanswered
};

struct HttpStreamHead {
  unsigned status = 0;
  HeaderList headers;  // names lowercased, in order
  std::string header(std::string_view lowercase_name) const;  // first, or ""
};

struct HttpStreamHandlers {
  std::function<void(const HttpStreamHead&)> on_head;  // once, when the status line is in
  std::function<void(std::string_view)> on_data;       // body bytes (chunked framing removed)
  std::function<void(Status)> on_end;  // exactly once (unless cancelled): ok = body complete
};

// The caller's handle on an exchange. cancel() closes its connection at once (the server
// sees the connection end and stops sending); no handler runs after it.
class HttpCall {
 public:
  virtual ~HttpCall() = default;
  virtual void cancel() = 0;
  // True when the exchange went over a connection that an earlier exchange had used.
  virtual bool reused_connection() const = 0;
};

struct HttpClientResponse {
  unsigned status = 0;
  std::string body;
};

class HttpClient {
 public:
  explicit HttpClient(boost::asio::io_context& io, HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  boost::asio::io_context& io() const;

  // A streamed exchange (see the handlers). The handle may be dropped: the exchange goes on.
  std::shared_ptr<HttpCall> stream(HttpStreamRequest request, HttpStreamHandlers handlers);

  // A buffered exchange for webhooks and tools: the WebhookConfig's timeout covers the whole
  // exchange, the reply body is bounded (1 MiB). Errors: "webhook_bad_url",
  // "webhook_timeout", "webhook_connect", "webhook_io", "webhook_too_large",
  // "webhook_bad_header" — each message names the URL's host and what failed. The client
  // sets "User-Agent: parley-host/1" and, with a body, "Content-Type: application/json";
  // configured headers come next, then `extra_headers` (a later header of the same name
  // replaces an earlier one). GET requests carry no body. A request with an Idempotency-Key
  // header, or a GET, is replayable. `done` runs once, later, on the io thread.
  void request(const WebhookConfig& target, std::string body, HeaderList extra_headers,
               std::function<void(Result<HttpClientResponse>)> done);

  // Connections opened so far and idle ones held now (tests, metrics).
  std::uint64_t connections_opened() const;
  std::size_t idle_connections() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace parley::host
