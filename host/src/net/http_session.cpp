#include "http_session.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <string_view>
#include <utility>

#include <boost/beast/websocket/rfc6455.hpp>

#include "parley/host/log.hpp"
#include "static_files.hpp"
#include "websocket_session.hpp"

namespace parley::host::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr const char* server_name = "parley-host/0.1.0";
// A response must be taken by the peer within this; a client that stops reading is dropped.
constexpr std::chrono::seconds write_timeout{60};
constexpr std::chrono::seconds drain_timeout{1};
constexpr std::size_t log_path_max = 200;

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

HttpRequest to_plain_request(const http::request<http::string_body>& request,
                             const std::string& remote) {
  HttpRequest plain;
  plain.method = std::string(request.method_string());
  plain.target = std::string(request.target());
  const auto question = plain.target.find('?');
  plain.path = plain.target.substr(0, question);
  if (question != std::string::npos) plain.query = plain.target.substr(question + 1);
  plain.headers.reserve(static_cast<std::size_t>(std::distance(request.begin(), request.end())));
  for (const auto& field : request)
    plain.headers.emplace_back(lowercase(field.name_string()), std::string(field.value()));
  plain.body = request.body();
  plain.remote = remote;
  return plain;
}

// X-Forwarded-For as one value: several headers are one list, in order (RFC 9110 §5.3).
std::string forwarded_for(const http::request<http::string_body>& request) {
  std::string out;
  for (const auto& field : request) {
    // Beast has no enum value for this header: compare the name (case-insensitively).
    if (!boost::beast::iequals(field.name_string(), "X-Forwarded-For")) continue;
    if (!out.empty()) out += ", ";
    out += std::string(field.value());
  }
  return out;
}

bool has_no_body(unsigned status) { return status < 200 || status == 204 || status == 304; }

}  // namespace

HttpSession::HttpSession(tcp::socket socket, std::shared_ptr<ServerState> state)
    : stream_(std::move(socket)),
      reader_(state->limits().max_header_bytes, state->limits().max_body_bytes),
      deadline_(state->io),
      state_(std::move(state)) {}

HttpSession::~HttpSession() { state_->remove(registry_id_); }

void HttpSession::run() {
  registry_id_ = state_->add(weak_from_this());
  beast::error_code ec;
  const auto peer = stream_.socket().remote_endpoint(ec);
  if (!ec) {
    // "[v6]:port" for IPv6, so that the address can be told from the port (rate limits key
    // on the address).
    const std::string address = peer.address().to_string();
    remote_ = (peer.address().is_v6() ? "[" + address + "]" : address) + ":" +
              std::to_string(peer.port());
    peer_remote_ = remote_;
    peer_address_ = peer.address();
  }
  read_request();
}

std::string HttpSession::client_remote(const Request& request) const {
  const TrustedProxies& proxies = state_->proxies;
  if (proxies.empty() || peer_remote_.empty()) return peer_remote_;
  const auto client = proxies.client(peer_address_, forwarded_for(request));
  if (client == peer_address_) return peer_remote_;
  const std::string address = client.to_string();
  return client.is_v6() ? "[" + address + "]" : address;  // no port: the proxy's is not its
}

void HttpSession::shut_down(std::uint16_t, const std::string&) {
  shutting_down_ = true;
  // Waiting for a request: nothing is lost by closing now. Otherwise the response in
  // progress goes out with "Connection: close".
  if (reading_) close_now();
}

void HttpSession::abort() { close_now(); }

void HttpSession::read_request() {
  if (shutting_down_ || closed_) return close_now();
  const ServerLimits& limits = state_->limits();
  reading_ = true;
  timed_out_ = false;
  // Our own timer rather than tcp_stream's: its timeout closes the socket, and a slow
  // client should still get its 408.
  deadline_.expires_after(std::chrono::seconds(limits.handshake_timeout_s));
  deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    self->on_read_deadline(ec);
  });
  continue_reading();
}

void HttpSession::continue_reading() {
  switch (reader_.parse(buffer_)) {
    case RequestReader::Step::request:
      reading_ = false;
      deadline_.cancel();
      started_ = std::chrono::steady_clock::now();
      return dispatch(reader_.take_request());
    case RequestReader::Step::refused:
      reading_ = false;
      deadline_.cancel();
      return on_refused();
    case RequestReader::Step::need_more:
      break;
  }
  constexpr std::size_t read_size = 4096;
  stream_.async_read_some(buffer_.prepare(read_size),
                          beast::bind_front_handler(&HttpSession::on_read_some,
                                                    shared_from_this()));
}

void HttpSession::on_read_deadline(boost::system::error_code ec) {
  if (ec || !reading_) return;
  timed_out_ = true;
  beast::error_code ignored;
  stream_.socket().cancel(ignored);
}

void HttpSession::on_read_some(beast::error_code ec, std::size_t bytes) {
  if (ec || timed_out_) {
    reading_ = false;
    deadline_.cancel();
    return on_read_failed(ec);
  }
  buffer_.commit(bytes);
  continue_reading();
}

void HttpSession::on_refused() {
  const RequestReader::Refusal& refusal = reader_.refusal();
  method_ = "-";
  path_ = "-";
  version_ = 11;
  keep_alive_ = false;
  head_ = false;
  started_ = std::chrono::steady_clock::now();
  state_->metrics.error("http_" + refusal.code);
  send(json_error(refusal.status, refusal.code, refusal.message), true);
}

void HttpSession::on_read_failed(beast::error_code ec) {
  const ServerLimits& limits = state_->limits();
  method_ = "-";
  path_ = "-";
  version_ = 11;
  keep_alive_ = false;
  head_ = false;
  started_ = std::chrono::steady_clock::now();
  if (timed_out_) {
    // An idle keep-alive connection just ends; a request that did not arrive in time is
    // told so.
    if (!reader_.got_some() && requests_served_ > 0) return close_now();
    state_->metrics.error("http_timeout");
    return send(json_error(408, "request_timeout",
                           "request not received within handshake_timeout_s (" +
                               std::to_string(limits.handshake_timeout_s) + " s)"),
                true);
  }
  // The peer went away (end of stream, reset), or we are closing: nobody to answer. A
  // request cut short is never served.
  (void)ec;
  close_now();
}

void HttpSession::dispatch(Request request) {
  ++state_->metrics.http_requests;
  version_ = request.version();
  keep_alive_ = request.keep_alive();
  head_ = request.method() == http::verb::head;
  method_ = std::string(request.method_string());
  path_ = std::string(request.target().substr(0, request.target().find('?')));
  remote_ = client_remote(request);
  const HttpRequest plain = to_plain_request(request, remote_);
  const bool get_or_head = plain.method == "GET" || plain.method == "HEAD";

  // Per client address, before anything else runs: every route a stranger can call, upgrades
  // included. /healthz is left out (a load balancer polls it from one address).
  if (!(plain.path == "/healthz" && get_or_head)) {
    if (const auto wait = state_->requests_per_address.take(client_address_key(remote_))) {
      state_->metrics.limited("requests_per_address");
      const std::string message =
          "too many requests from this address: at most " +
          std::to_string(state_->limits().max_requests_per_s) +
          " a second (limits.max_requests_per_s); retry in " + std::to_string(wait) + " s";
      std::optional<HttpResponse> shaped;
      try {
        shaped = state_->app.refusal(plain, 429, "rate_limited", message);
      } catch (const std::exception& e) {
        log_event(LogLevel::error, "http.app_failed", std::string("refusal: ") + e.what());
      }
      HttpResponse response = shaped ? std::move(*shaped) : json_error(429, "rate_limited", message);
      response.headers.emplace_back("Retry-After", std::to_string(wait));
      return send(std::move(response));
    }
  }

  if (beast::websocket::is_upgrade(request)) return upgrade(std::move(request), plain);

  if (plain.path == "/healthz" && get_or_head) {
    HttpResponse response = state_->app.health();
    response.headers.emplace_back("Cache-Control", "no-store");
    return send(std::move(response));
  }
  if (plain.path == "/metrics" && get_or_head) {
    HttpResponse response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.headers.emplace_back("Cache-Control", "no-store");
    response.body = state_->metrics.prometheus_text();
    try {
      response.body += state_->app.metrics_text();
    } catch (const std::exception& e) {
      log_event(LogLevel::error, "http.app_failed", std::string("metrics_text: ") + e.what());
    }
    return send(std::move(response));
  }
  call_application(plain);
}

void HttpSession::call_application(const HttpRequest& plain) {
  // `done` may run now or later (after a webhook), and must answer exactly once.
  auto answered = std::make_shared<bool>(false);
  HttpDone done = [self = shared_from_this(), answered](HttpResponse response) {
    if (*answered) return;
    *answered = true;
    self->send(std::move(response));
  };
  bool handled = false;
  try {
    handled = state_->app.handle_http(plain, done);
  } catch (const std::exception& e) {
    log_event(LogLevel::error, "http.app_failed", std::string("handle_http: ") + e.what());
    if (!*answered) {
      *answered = true;
      send(json_error(500, "internal", "internal error"), true);
    }
    return;
  }
  if (handled) return;
  if (plain.method != "GET" && plain.method != "HEAD") {
    HttpResponse response = json_error(405, "method_not_allowed",
                                       "method " + plain.method + " is not allowed on " +
                                           plain.path.substr(0, log_path_max) +
                                           " (static files: GET, HEAD)");
    response.headers.emplace_back("Allow", "GET, HEAD");
    return send(std::move(response));
  }
  send(serve_static(plain, state_->config));
}

void HttpSession::upgrade(Request request, const HttpRequest& plain) {
  if (state_->stopping) return send(json_error(503, "shutting_down", "server shutting down"), true);
  auto session = std::make_shared<WebSocketSession>(state_, remote_);
  std::shared_ptr<SocketHandler> handler;
  try {
    handler = state_->app.open_socket(plain, session);
  } catch (const std::exception& e) {
    log_event(LogLevel::error, "ws.app_failed", std::string("open_socket: ") + e.what());
    session->abandon();
    return send(json_error(500, "internal", "internal error"), true);
  }
  if (!handler) {
    session->abandon();
    return send(json_error(404, "not_found", "no WebSocket endpoint at this path"), true);
  }
  log_event(LogLevel::debug, "http.upgrade",
            "path=" + path_.substr(0, log_path_max) + " remote=" + remote_);
  closed_ = true;  // the socket now belongs to the WebSocket session
  session->start(stream_.release_socket(), std::move(request), std::move(handler));
}

void HttpSession::send(HttpResponse plain, bool close) {
  if (closed_) return;
  const bool keep_alive = keep_alive_ && !close && !shutting_down_;
  response_ = std::make_unique<Response>(static_cast<http::status>(plain.status), version_);
  Response& response = *response_;
  response.set(http::field::server, server_name);
  if (!plain.content_type.empty() && !has_no_body(plain.status))
    response.set(http::field::content_type, plain.content_type);
  for (auto& [name, value] : plain.headers) response.insert(name, value);
  response.set("X-Content-Type-Options", "nosniff");
  response.set("Referrer-Policy", "no-referrer");
  response.keep_alive(keep_alive);
  if (!has_no_body(plain.status)) {
    const std::size_t size = plain.body.size();
    if (!head_) response.body() = std::move(plain.body);
    response.content_length(size);
  }

  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started_)
                           .count();
  const LogLevel level = plain.status >= 500 || close ? LogLevel::warn : LogLevel::debug;
  if (log_enabled(level)) {
    log_event(level, "http.request",
              "method=" + method_ + " path=" + path_.substr(0, log_path_max) + " status=" +
                  std::to_string(plain.status) + " ms=" + std::to_string(elapsed) +
                  " remote=" + remote_);
  }

  stream_.expires_after(write_timeout);
  http::async_write(stream_, response,
                    beast::bind_front_handler(&HttpSession::on_write, shared_from_this(),
                                              !keep_alive));
}

void HttpSession::on_write(bool close, beast::error_code ec, std::size_t) {
  response_.reset();
  stream_.expires_never();
  if (ec) return close_now();
  if (close) return close_gracefully();
  ++requests_served_;
  read_request();
}

void HttpSession::close_gracefully() {
  if (closed_) return;
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  deadline_.expires_after(drain_timeout);
  deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->close_now();
  });
  drain();
}

void HttpSession::drain() {
  if (closed_) return;
  drain_buffer_.resize(4096);
  stream_.socket().async_read_some(
      asio::buffer(drain_buffer_),
      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
        if (ec) return self->close_now();
        self->drain();
      });
}

void HttpSession::close_now() {
  if (closed_) return;
  closed_ = true;
  deadline_.cancel();
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.socket().close(ignored);
}

}  // namespace parley::host::net
