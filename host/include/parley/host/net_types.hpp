// What the network layer (Beast, host/src/net/) and the application (sessions, REST, voice)
// exchange. The application never sees Beast types: requests and replies are plain values,
// a WebSocket is a SocketSink to write to and a SocketHandler that is told what arrived.
// Everything runs on the one io thread, so none of these need locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parley::host {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received: path + optional "?query"
  std::string path;    // the raw (not percent-decoded) path, without the query
  std::string query;   // raw query without '?', or ""
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;
  std::string remote;  // "127.0.0.1:53122"

  // First header with this (lowercase) name.
  std::optional<std::string_view> header(std::string_view lowercase_name) const {
    for (const auto& [name, value] : headers)
      if (name == lowercase_name) return std::string_view(value);
    return std::nullopt;
  }
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, sent as given
  std::string body;
};

using HttpDone = std::function<void(HttpResponse)>;

// The write side of one WebSocket. Sends are queued and a single writer drains the queue; a
// socket whose queue exceeds the configured limit is closed with 1008 and counted. After
// close() or a peer close, further sends are dropped silently.
//
// Two lanes: text frames (control: pong, clear, every JSON message) are written before any
// binary frame (agent audio) still waiting, so that a pong or a `clear` never waits behind
// queued audio. Within a lane the order is kept.
class SocketSink {
 public:
  virtual ~SocketSink() = default;
  virtual void send_text(std::string text) = 0;
  virtual void send_binary(std::string bytes) = 0;  // bytes as a string buffer (PCM16 LE)
  // Drops the binary frames not yet being written (barge-in: audio queued before `clear`
  // must not play after it).
  virtual void drop_queued_audio() = 0;
  // Sends the close frame after everything queued before it (both lanes). `reason` ≤ 123 bytes (cut).
  virtual void close(std::uint16_t code, std::string reason) = 0;
  virtual bool is_open() const = 0;
  virtual std::size_t queued() const = 0;
};

// The read side: the application's per-socket object. The network layer calls these in
// order on the io thread; after on_closed() nothing else is called.
class SocketHandler {
 public:
  virtual ~SocketHandler() = default;
  virtual void on_text(std::string_view text) = 0;
  virtual void on_binary(const std::uint8_t* data, std::size_t size) = 0;
  // Nothing received for limits.idle_timeout_s. The handler should send its onerror and
  // close(4408); if the socket is still open 1 s later the network layer closes it.
  virtual void on_idle_timeout() = 0;
  // The socket is gone (peer close, error, or after our close). `code` is the close code
  // seen or sent (1006 for an abnormal drop).
  virtual void on_closed(std::uint16_t code) = 0;
};

// The application the network layer serves, besides static files, /healthz and /metrics.
class Application {
 public:
  virtual ~Application() = default;
  // Dynamic HTTP routes. Returns false when `request.path` is not the application's (the
  // network layer then tries static files, then answers 404); true means `done` will be
  // called exactly once (possibly later, e.g. after a tool call).
  virtual bool handle_http(const HttpRequest& request, HttpDone done) = 0;
  // A WebSocket upgrade request. Returns the handler, or nullptr to refuse the upgrade with
  // 404 (a path the application does not serve). The handler may close `sink` at once.
  virtual std::shared_ptr<SocketHandler> open_socket(const HttpRequest& upgrade,
                                                     std::shared_ptr<SocketSink> sink) = 0;
  // Shutdown (SIGTERM/SIGINT): end calls with a reason, persist pending work; call `done`
  // when finished (the server then stops the io_context).
  virtual void shutdown(std::function<void()> done) = 0;
  // Extra Prometheus lines for /metrics (already formatted, each ending in '\n').
  virtual std::string metrics_text() const = 0;
  // How a refusal by the network layer (429 from the per-address rate limit) is answered on
  // `request`'s route, in the application's own shape (the Memori envelope under /memori/v2);
  // nullopt: the network layer's JSON error. The network layer adds Retry-After.
  virtual std::optional<HttpResponse> refusal(const HttpRequest& request, unsigned status,
                                              const std::string& code,
                                              const std::string& message) {
    (void)request, (void)status, (void)code, (void)message;
    return std::nullopt;
  }
  // GET /healthz: 200 {"status":"ok", ...} while the host takes new work; 503 with the
  // reason when it does not (its database is unreachable). Never waits on the database.
  virtual HttpResponse health() const {
    HttpResponse response;
    response.body = "{\"status\":\"ok\"}";
    return response;
  }
};

}  // namespace parley::host
