// HttpClient: streamed and buffered HTTP/1.1 exchanges over kept-alive connections (see
// parley/host/http_client.hpp). One Exchange per request: take an idle connection of the
// upstream or open one (resolve, connect, TLS), write the request, read the head, then read
// the body piece by piece into a fixed buffer and hand each piece over. A complete body on a
// keep-alive connection returns the connection to the pool; anything else closes it.
#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <openssl/ssl.h>

#include "http_connection.hpp"
#include "parley/host/http_client.hpp"

namespace parley::host {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using http_detail::ConnectionPool;
using http_detail::HttpConnection;

namespace {

constexpr std::uint64_t max_buffered_body_bytes = 1024 * 1024;
constexpr std::uint32_t max_reply_header_bytes = 16 * 1024;
constexpr std::size_t read_piece_bytes = 16 * 1024;
constexpr const char* user_agent = "parley-host/1";

// Where a URL points, in the pieces a connection needs.
struct Target {
  bool tls = false;
  std::string host;         // for the resolver and TLS host-name checks (no brackets)
  std::string port;         // numeric text
  std::string host_header;  // "host" or "host:port" or "[::1]:port"
  std::string target;       // origin-form: path and query
  std::string key() const { return (tls ? "https://" : "http://") + host_header + "#" + port; }
};

Result<Target> parse_target(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    return make_error("http_bad_url", "url \"" + url + "\" is not a valid absolute URL: " +
                                          parsed.error().message());
  }
  const auto& u = *parsed;
  Target t;
  if (u.scheme_id() == boost::urls::scheme::http) {
    t.tls = false;
  } else if (u.scheme_id() == boost::urls::scheme::https) {
    t.tls = true;
  } else {
    return make_error("http_bad_url", "url \"" + url + "\" must start with http:// or https://");
  }
  if (u.has_userinfo()) {
    return make_error("http_bad_url", "url of host \"" + std::string(u.encoded_host()) +
                                          "\" must not carry user:password; use headers");
  }
  if (u.host_type() == boost::urls::host_type::ipv6) {
    t.host = u.host_ipv6_address().to_string();
  } else if (u.host_type() == boost::urls::host_type::ipv4) {
    t.host = u.host_ipv4_address().to_string();
  } else if (u.host_type() == boost::urls::host_type::name) {
    t.host = u.host();
  } else {
    return make_error("http_bad_url", "url \"" + url + "\" has no usable host");
  }
  if (t.host.empty()) return make_error("http_bad_url", "url \"" + url + "\" has no host");
  if (u.has_port()) {
    if (u.port().empty() || u.port_number() == 0) {
      return make_error("http_bad_url", "url of host \"" + t.host + "\" has a bad port \"" +
                                            std::string(u.port()) + "\"");
    }
    t.port = std::to_string(u.port_number());
  } else {
    t.port = t.tls ? "443" : "80";
  }
  t.host_header = std::string(u.encoded_host_and_port());
  t.target = u.encoded_path().empty() ? std::string("/") : std::string(u.encoded_path());
  if (u.has_query()) t.target += "?" + std::string(u.encoded_query());
  return t;
}

bool header_text_ok(const std::string& text) {
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::shared_ptr<asio::ssl::context> make_tls_context(const std::string& extra_ca_file) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ignored;  // no CA store → every peer fails verification: safe
  ctx->set_default_verify_paths(ignored);
  if (!extra_ca_file.empty()) ctx->load_verify_file(extra_ca_file, ignored);
  ctx->set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

}  // namespace

std::string HttpStreamHead::header(std::string_view lowercase_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lowercase_name) return value;
  }
  return {};
}

struct HttpClient::Impl {
  Impl(asio::io_context& context, HttpClientOptions o)
      : io(context), options(std::move(o)),
        pool(std::make_shared<ConnectionPool>(context, options)) {}
  ~Impl() { pool->close_all(); }

  asio::ssl::context& tls() {
    if (!tls_context) tls_context = make_tls_context(options.extra_ca_file);
    return *tls_context;
  }

  asio::io_context& io;
  HttpClientOptions options;
  std::shared_ptr<ConnectionPool> pool;
  std::shared_ptr<asio::ssl::context> tls_context;
  std::uint64_t opened = 0;
};

namespace {

// One request and its response. Kept alive by its pending handlers (and the caller's handle).
class Exchange final : public HttpCall, public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(std::shared_ptr<HttpClient::Impl> client, Target target,
           http::request<http::string_body> request, const HttpStreamRequest& options,
           HttpStreamHandlers handlers)
      : client_(std::move(client)),
        resolver_(client_->io),
        total_timer_(client_->io),
        target_(std::move(target)),
        request_(std::move(request)),
        connect_timeout_(std::max<std::uint32_t>(1, options.connect_timeout_ms)),
        idle_timeout_(std::max<std::uint32_t>(1, options.idle_timeout_ms)),
        total_timeout_ms_(options.total_timeout_ms),
        replayable_(options.replayable),
        handlers_(std::move(handlers)) {}

  void start() {
    if (total_timeout_ms_ > 0) {
      total_timer_.expires_after(std::chrono::milliseconds(total_timeout_ms_));
      total_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (ec) return;
        self->fail("http_timeout", "request to " + self->target_.host_header +
                                       " took longer than " +
                                       std::to_string(self->total_timeout_ms_) + " ms");
      });
    }
    connection_ = client_->pool->take(target_.key());
    if (connection_) {
      reused_ = true;
      return write();
    }
    open_fresh();
  }

  void cancel() override {
    if (finished_) return;
    finished_ = true;
    stop_everything();
    retire_connection();
    handlers_ = {};
  }

  bool reused_connection() const override { return reused_; }

 private:
  // ---- connecting ----------------------------------------------------------------------

  void open_fresh() {
    connection_ = std::make_shared<HttpConnection>(
        client_->io, target_.tls ? &client_->tls() : nullptr, target_.key());
    ++client_->opened;
    connect_deadline_ = std::chrono::steady_clock::now() + connect_timeout_;
    auto self = shared_from_this();
    // The resolver has no deadline of its own: the connection's timer covers it by expiring
    // the connect that follows, and this timer covers a resolve that never ends.
    resolve_timer_.emplace(client_->io);
    resolve_timer_->expires_at(connect_deadline_);
    resolve_timer_->async_wait([self](boost::system::error_code ec) {
      if (ec || self->resolved_) return;
      self->fail("http_timeout", "connecting to " + self->target_.host_header +
                                     " took longer than " +
                                     std::to_string(self->connect_timeout_.count()) + " ms");
    });
    resolver_.async_resolve(target_.host, target_.port,
                            [self](boost::system::error_code ec, tcp::resolver::results_type r) {
                              self->on_resolve(ec, std::move(r));
                            });
  }

  void on_resolve(boost::system::error_code ec, tcp::resolver::results_type results) {
    resolved_ = true;
    if (resolve_timer_) resolve_timer_->cancel();
    if (finished_) return;
    if (ec) {
      return fail("http_connect", "cannot resolve host " + target_.host + ": " + ec.message());
    }
    auto self = shared_from_this();
    connection_->tcp().expires_at(connect_deadline_);
    connection_->tcp().async_connect(results,
                                     [self](boost::system::error_code e, const tcp::endpoint&) {
                                       self->on_connect(e);
                                     });
  }

  void on_connect(boost::system::error_code ec) {
    if (finished_) return;
    if (ec == beast::error::timeout) {
      return fail("http_timeout", "connecting to " + target_.host_header + " took longer than " +
                                      std::to_string(connect_timeout_.count()) + " ms");
    }
    if (ec) {
      return fail("http_connect",
                  "cannot connect to " + target_.host_header + ": " + ec.message());
    }
    boost::system::error_code ignored;
    connection_->tcp().socket().set_option(tcp::no_delay(true), ignored);
    if (!target_.tls) return write();
    auto& tls = connection_->secure();
    // SNI and the host-name check; an IP literal needs no SNI (RFC 6066).
    boost::system::error_code not_ip;
    asio::ip::make_address(target_.host, not_ip);
    if (not_ip) SSL_set_tlsext_host_name(tls.native_handle(), target_.host.c_str());
    tls.set_verify_mode(asio::ssl::verify_peer);
    tls.set_verify_callback(asio::ssl::host_name_verification(target_.host));
    auto self = shared_from_this();
    connection_->tcp().expires_at(connect_deadline_);
    tls.async_handshake(asio::ssl::stream_base::client,
                        [self](boost::system::error_code e) { self->on_handshake(e); });
  }

  void on_handshake(boost::system::error_code ec) {
    if (finished_) return;
    if (ec == beast::error::timeout) {
      return fail("http_timeout", "the TLS handshake with " + target_.host_header +
                                      " took longer than " +
                                      std::to_string(connect_timeout_.count()) + " ms");
    }
    if (ec) {
      return fail("http_connect",
                  "TLS handshake with " + target_.host_header + " failed: " + ec.message());
    }
    write();
  }

  // ---- the request ---------------------------------------------------------------------

  void write() {
    auto self = shared_from_this();
    connection_->tcp().expires_after(idle_timeout_);
    connection_->with_stream([&](auto& stream) {
      http::async_write(stream, request_, [self](boost::system::error_code ec, std::size_t) {
        self->on_write(ec);
      });
    });
  }

  void on_write(boost::system::error_code ec) {
    if (finished_) return;
    if (ec) {
      if (retry_unanswered()) return;
      if (ec == beast::error::timeout) return idle_timeout_error("accepting the request");
      return fail("http_io",
                  "sending the request to " + target_.host_header + " failed: " + ec.message());
    }
    parser_.emplace();
    parser_->header_limit(max_reply_header_bytes);
    parser_->body_limit(boost::none);  // pieces go to the caller, who bounds what it keeps
    auto self = shared_from_this();
    connection_->tcp().expires_after(idle_timeout_);
    connection_->with_stream([&](auto& stream) {
      http::async_read_header(stream, connection_->buffer(), *parser_,
                              [self](boost::system::error_code e, std::size_t) {
                                self->on_head(e);
                              });
    });
  }

  // A reused connection the server had closed (its keep-alive timer raced our request):
  // nothing of a reply arrived, so the request can go again on a fresh connection, once.
  bool retry_unanswered() {
    const bool nothing_back = !parser_ || (!parser_->got_some() && connection_->buffer().size() == 0);
    if (!reused_ || retried_ || !replayable_ || !nothing_back) return false;
    retried_ = true;
    reused_ = false;
    connection_->close();
    connection_.reset();
    parser_.reset();
    open_fresh();
    return true;
  }

  // ---- the response --------------------------------------------------------------------

  void on_head(boost::system::error_code ec) {
    if (finished_) return;
    if (ec) {
      if (retry_unanswered()) return;
      if (ec == beast::error::timeout) return idle_timeout_error("answering");
      if (ec == http::error::header_limit) {
        return fail("http_too_large", "the reply from " + target_.host_header +
                                          " is larger than 16 KiB (headers)");
      }
      if (ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::error::connection_reset) {
        return fail("http_cut", target_.host_header + " closed the connection before " +
                                    "answering: " + ec.message());
      }
      if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
        return fail("http_bad_reply",
                    target_.host_header + " did not answer in HTTP/1.1: " + ec.message());
      }
      return fail("http_io",
                  "reading the reply from " + target_.host_header + " failed: " + ec.message());
    }
    head_done_ = true;
    HttpStreamHead head;
    head.status = parser_->get().result_int();
    for (const auto& field : parser_->get()) {
      head.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
    }
    // Copies: a handler may cancel, which drops the handlers while this one runs.
    if (auto on_head = handlers_.on_head) on_head(head);
    if (finished_) return;  // the caller cancelled
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return complete();
    auto& body = parser_->get().body();
    body.data = piece_.data();
    body.size = piece_.size();
    auto self = shared_from_this();
    connection_->tcp().expires_after(idle_timeout_);
    connection_->with_stream([&](auto& stream) {
      http::async_read_some(stream, connection_->buffer(), *parser_,
                            [self](boost::system::error_code e, std::size_t) {
                              self->on_body(e);
                            });
    });
  }

  void on_body(boost::system::error_code ec) {
    if (finished_) return;
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = piece_.size() - parser_->get().body().size;
    if (got > 0 && handlers_.on_data) {
      auto on_data = handlers_.on_data;
      on_data(std::string_view(piece_.data(), got));
      if (finished_) return;  // the caller cancelled
    }
    if (ec == asio::ssl::error::stream_truncated && parser_->need_eof()) {
      // Many servers close TLS without close_notify; for a body that runs to the end of the
      // connection that is its end.
      ec = {};
      parser_->put_eof(ec);
    }
    if (ec) {
      if (ec == beast::error::timeout) return idle_timeout_error("sending the rest of the reply");
      if (ec == http::error::partial_message || ec == asio::error::eof ||
          ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
          ec == asio::ssl::error::stream_truncated) {
        return fail("http_cut", target_.host_header + " ended the connection in the middle " +
                                    "of the reply: " + ec.message());
      }
      return fail("http_io",
                  "reading the reply from " + target_.host_header + " failed: " + ec.message());
    }
    read_body();
  }

  void complete() {
    if (finished_) return;
    finished_ = true;
    stop_everything();
    ++connection_->exchanges;
    if (parser_->keep_alive() && !parser_->need_eof()) {
      client_->pool->give(std::move(connection_));
    } else {
      connection_->close();
    }
    connection_.reset();
    auto on_end = std::move(handlers_.on_end);
    handlers_ = {};
    if (on_end) on_end(ok_status());
  }

  // ---- ending --------------------------------------------------------------------------

  void idle_timeout_error(const char* what) {
    fail("http_timeout", target_.host_header + " took longer than " +
                             std::to_string(idle_timeout_.count()) + " ms " + what);
  }

  void fail(const char* code, std::string message) {
    if (finished_) return;
    finished_ = true;
    stop_everything();
    retire_connection();
    auto on_end = std::move(handlers_.on_end);
    handlers_ = {};
    if (on_end) on_end(Status(make_error(code, std::move(message))));
  }

  // Closed, but kept until this exchange is gone: an operation still pending on it (a read
  // into its buffer) completes, aborted, after this; the handler holds the exchange.
  void retire_connection() {
    if (!connection_) return;
    connection_->close();
    retired_ = std::move(connection_);
  }

  void stop_everything() {
    total_timer_.cancel();
    if (resolve_timer_) resolve_timer_->cancel();
    resolver_.cancel();
  }

  std::shared_ptr<HttpClient::Impl> client_;
  tcp::resolver resolver_;
  asio::steady_timer total_timer_;
  std::optional<asio::steady_timer> resolve_timer_;
  Target target_;
  http::request<http::string_body> request_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds idle_timeout_;
  std::uint32_t total_timeout_ms_;
  bool replayable_;
  HttpStreamHandlers handlers_;
  std::shared_ptr<HttpConnection> connection_;
  std::shared_ptr<HttpConnection> retired_;  // closed by cancel() or fail(); see there
  std::optional<http::response_parser<http::buffer_body>> parser_;
  std::array<char, read_piece_bytes> piece_{};
  std::chrono::steady_clock::time_point connect_deadline_{};
  bool reused_ = false;
  bool retried_ = false;
  bool resolved_ = false;
  bool head_done_ = false;
  bool finished_ = false;
};

// An exchange that cannot start (bad URL or header): its end comes later, once.
class RefusedCall final : public HttpCall {
 public:
  void cancel() override { *cancelled_ = true; }
  bool reused_connection() const override { return false; }
  std::shared_ptr<bool> cancelled_ = std::make_shared<bool>(false);
};

}  // namespace

HttpClient::HttpClient(asio::io_context& io, HttpClientOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(options))) {}

HttpClient::~HttpClient() { impl_->pool->close_all(); }

asio::io_context& HttpClient::io() const { return impl_->io; }

std::uint64_t HttpClient::connections_opened() const { return impl_->opened; }

std::size_t HttpClient::idle_connections() const { return impl_->pool->idle(); }

std::shared_ptr<HttpCall> HttpClient::stream(HttpStreamRequest request,
                                             HttpStreamHandlers handlers) {
  auto refuse = [&](Error error) -> std::shared_ptr<HttpCall> {
    auto call = std::make_shared<RefusedCall>();
    asio::post(impl_->io, [cancelled = call->cancelled_, on_end = std::move(handlers.on_end),
                           error = std::move(error)]() mutable {
      if (!*cancelled && on_end) on_end(Status(std::move(error)));
    });
    return call;
  };
  auto target = parse_target(request.url);
  if (!target) return refuse(target.error());

  http::request<http::string_body> req;
  const bool is_get = request.method == "GET";
  req.method(is_get ? http::verb::get : http::verb::post);
  req.target(target->target);
  req.version(11);
  req.set(http::field::host, target->host_header);
  req.set(http::field::user_agent, user_agent);
  req.set(http::field::accept, request.accept);
  if (!is_get) req.set(http::field::content_type, request.content_type);
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || !header_text_ok(name) || !header_text_ok(value)) {
      return refuse(make_error("http_bad_header", "header \"" + name + "\" for " +
                                                      target->host_header +
                                                      " is empty or holds CR, LF or NUL"));
    }
    req.set(name, value);
  }
  if (!is_get) req.body() = std::move(request.body);
  req.prepare_payload();

  auto exchange = std::make_shared<Exchange>(impl_, std::move(*target), std::move(req), request,
                                             std::move(handlers));
  asio::post(impl_->io, [exchange] { exchange->start(); });
  return exchange;
}

void HttpClient::request(const WebhookConfig& config, std::string body, HeaderList extra_headers,
                         std::function<void(Result<HttpClientResponse>)> done) {
  HttpStreamRequest request;
  request.url = config.url;
  request.method = config.method == "GET" ? "GET" : "POST";
  request.headers = config.headers;
  bool idempotent = request.method == "GET";
  for (auto& header : extra_headers) {
    if (lower(header.first) == "idempotency-key") idempotent = true;
    request.headers.push_back(std::move(header));
  }
  for (const auto& header : config.headers) {
    if (lower(header.first) == "idempotency-key") idempotent = true;
  }
  request.replayable = idempotent;
  request.body = std::move(body);
  const std::uint32_t timeout_ms = config.timeout_ms == 0 ? 1 : config.timeout_ms;
  request.connect_timeout_ms = timeout_ms;
  request.idle_timeout_ms = timeout_ms;
  request.total_timeout_ms = timeout_ms;

  struct State {
    HttpClientResponse response;
    std::function<void(Result<HttpClientResponse>)> done;
    std::shared_ptr<HttpCall> call;
    std::string host;
  };
  auto state = std::make_shared<State>();
  state->done = std::move(done);
  if (auto parsed = boost::urls::parse_uri(config.url)) {
    state->host = std::string(parsed->encoded_host_and_port());
  }
  HttpStreamHandlers handlers;
  handlers.on_head = [state](const HttpStreamHead& head) { state->response.status = head.status; };
  handlers.on_data = [state, io = &impl_->io](std::string_view piece) {
    if (state->response.body.size() + piece.size() <= max_buffered_body_bytes) {
      state->response.body.append(piece);
      return;
    }
    auto call = std::move(state->call);
    if (call) call->cancel();
    auto finish = std::move(state->done);
    asio::post(*io, [finish = std::move(finish), host = state->host]() {
      finish(make_error("webhook_too_large", "the reply from " + host + " is larger than 1 MiB (body)"));
    });
  };
  handlers.on_end = [state](Status status) {
    auto finish = std::move(state->done);
    state->call.reset();  // the exchange held the state, the state held the exchange
    if (!finish) return;
    if (!status) {
      Error error = status.error();
      if (error.code == "http_cut" || error.code == "http_bad_reply") {
        error.code = "webhook_io";
      } else if (error.code.rfind("http_", 0) == 0) {
        error.code = "webhook_" + error.code.substr(5);
      }
      return finish(std::move(error));
    }
    finish(std::move(state->response));
  };
  state->call = stream(std::move(request), std::move(handlers));
}

}  // namespace parley::host
