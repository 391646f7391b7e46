// HttpClient: one outgoing HTTP/1.1 exchange per request() (webhooks and tools), with
// Beast over plain TCP or over TLS (OpenSSL, peer verified against the system CA store).
// One deadline covers resolve + connect + handshake + write + read, the reply body is
// bounded, and the callback runs exactly once on the io thread.
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
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <openssl/ssl.h>

#include "parley/host/agent.hpp"

namespace parley::host {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::uint64_t max_reply_body_bytes = 1024 * 1024;
constexpr std::uint32_t max_reply_header_bytes = 16 * 1024;
constexpr const char* user_agent = "parley-host/1";

using Done = std::function<void(Result<HttpClientResponse>)>;

// Where a URL points, in the pieces a connection needs.
struct Target {
  bool tls = false;
  std::string host;         // for the resolver and TLS host-name checks (no brackets)
  std::string port;         // numeric text
  std::string host_header;  // "host" or "host:port" or "[::1]:port"
  std::string target;       // origin-form: path and query
};

Result<Target> parse_target(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    return make_error("webhook_bad_url", "url \"" + url + "\" is not a valid absolute URL: " +
                                             parsed.error().message());
  }
  const auto& u = *parsed;
  Target t;
  if (u.scheme_id() == boost::urls::scheme::http) {
    t.tls = false;
  } else if (u.scheme_id() == boost::urls::scheme::https) {
    t.tls = true;
  } else {
    return make_error("webhook_bad_url", "url \"" + url + "\" must start with http:// or https://");
  }
  if (u.has_userinfo()) {
    return make_error("webhook_bad_url", "url of host \"" + std::string(u.encoded_host()) +
                                             "\" must not carry user:password; use headers");
  }
  if (u.host_type() == boost::urls::host_type::ipv6) {
    t.host = u.host_ipv6_address().to_string();
  } else if (u.host_type() == boost::urls::host_type::ipv4) {
    t.host = u.host_ipv4_address().to_string();
  } else if (u.host_type() == boost::urls::host_type::name) {
    t.host = u.host();
  } else {
    return make_error("webhook_bad_url", "url \"" + url + "\" has no usable host");
  }
  if (t.host.empty()) return make_error("webhook_bad_url", "url \"" + url + "\" has no host");
  if (u.has_port()) {
    if (u.port().empty() || u.port_number() == 0) {
      return make_error("webhook_bad_url", "url of host \"" + t.host + "\" has a bad port \"" +
                                               std::string(u.port()) + "\"");
    }
    t.port = std::to_string(u.port_number());
  } else {
    t.port = t.tls ? "443" : "80";
  }
  std::string authority_host = std::string(u.encoded_host_and_port());
  t.host_header = authority_host;
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

tcp::socket& lowest_layer(tcp::socket& s) { return s; }
tcp::socket& lowest_layer(asio::ssl::stream<tcp::socket>& s) { return s.next_layer(); }

// One request/response over a fresh connection. Kept alive by its own handlers.
template <class Stream>
class Exchange : public std::enable_shared_from_this<Exchange<Stream>> {
 public:
  template <class... StreamArgs>
  Exchange(asio::io_context& io, Target target, http::request<http::string_body> request,
           std::uint32_t timeout_ms, Done done, StreamArgs&&... stream_args)
      : resolver_(io),
        stream_(std::forward<StreamArgs>(stream_args)...),
        timer_(io),
        target_(std::move(target)),
        request_(std::move(request)),
        timeout_ms_(timeout_ms),
        done_(std::move(done)) {}

  // Anything the stream depends on (the TLS context) that must live as long as it.
  std::shared_ptr<void> anchor;

  void run() {
    auto self = this->shared_from_this();
    if constexpr (is_tls) {
      // SNI and the host-name check; an IP literal needs no SNI (RFC 6066).
      boost::system::error_code ignored;
      asio::ip::make_address(target_.host, ignored);
      if (ignored) SSL_set_tlsext_host_name(stream_.native_handle(), target_.host.c_str());
      stream_.set_verify_mode(asio::ssl::verify_peer);
      stream_.set_verify_callback(asio::ssl::host_name_verification(target_.host));
    }
    timer_.expires_after(std::chrono::milliseconds(timeout_ms_));
    timer_.async_wait([self](boost::system::error_code ec) {
      if (ec) return;  // cancelled: the exchange ended first
      self->finish(make_error("webhook_timeout",
                              "request to " + self->target_.host_header + " took longer than " +
                                  std::to_string(self->timeout_ms_) + " ms"));
    });
    resolver_.async_resolve(target_.host, target_.port,
                            [self](boost::system::error_code ec, tcp::resolver::results_type r) {
                              self->on_resolve(ec, std::move(r));
                            });
  }

 private:
  static constexpr bool is_tls = !std::is_same_v<Stream, tcp::socket>;

  void on_resolve(boost::system::error_code ec, tcp::resolver::results_type results) {
    if (finished_) return;
    if (ec) {
      return finish(make_error("webhook_connect",
                               "cannot resolve host " + target_.host + ": " + ec.message()));
    }
    auto self = this->shared_from_this();
    asio::async_connect(lowest_layer(stream_), results,
                        [self](boost::system::error_code e, const tcp::endpoint&) {
                          self->on_connect(e);
                        });
  }

  void on_connect(boost::system::error_code ec) {
    if (finished_) return;
    if (ec) {
      return finish(make_error("webhook_connect", "cannot connect to " + target_.host_header +
                                                      ": " + ec.message()));
    }
    auto self = this->shared_from_this();
    if constexpr (is_tls) {
      stream_.async_handshake(asio::ssl::stream_base::client,
                              [self](boost::system::error_code e) { self->on_handshake(e); });
    } else {
      write();
    }
  }

  void on_handshake(boost::system::error_code ec) {
    if (finished_) return;
    if (ec) {
      return finish(make_error("webhook_connect", "TLS handshake with " + target_.host_header +
                                                      " failed: " + ec.message()));
    }
    write();
  }

  void write() {
    auto self = this->shared_from_this();
    http::async_write(stream_, request_, [self](boost::system::error_code ec, std::size_t) {
      self->on_write(ec);
    });
  }

  void on_write(boost::system::error_code ec) {
    if (finished_) return;
    if (ec) {
      return finish(make_error("webhook_io", "sending the request to " + target_.host_header +
                                                 " failed: " + ec.message()));
    }
    parser_.emplace();
    parser_->body_limit(max_reply_body_bytes);
    parser_->header_limit(max_reply_header_bytes);
    auto self = this->shared_from_this();
    http::async_read(stream_, buffer_, *parser_,
                     [self](boost::system::error_code e, std::size_t) { self->on_read(e); });
  }

  void on_read(boost::system::error_code ec) {
    if (finished_) return;
    if constexpr (is_tls) {
      // Many servers close TLS without close_notify; for a body that runs to the end of
      // the connection that is its end (the length, if any, was checked by the parser).
      if (ec == asio::ssl::error::stream_truncated && parser_->is_header_done()) {
        ec = {};
        parser_->put_eof(ec);
      }
    }
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      return finish(make_error("webhook_too_large",
                               "the reply from " + target_.host_header + " is larger than " +
                                   (ec == http::error::body_limit ? "1 MiB (body)"
                                                                  : "16 KiB (headers)")));
    }
    if (ec) {
      return finish(make_error("webhook_io", "reading the reply from " + target_.host_header +
                                                 " failed: " + ec.message()));
    }
    auto message = parser_->release();
    HttpClientResponse response;
    response.status = message.result_int();
    response.body = std::move(message.body());
    finish(std::move(response));
  }

  // Ends the exchange once: stops the timer and every pending operation (their handlers
  // then see finished_), closes the connection, and reports.
  void finish(Result<HttpClientResponse> result) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    resolver_.cancel();
    boost::system::error_code ignored;
    lowest_layer(stream_).shutdown(tcp::socket::shutdown_both, ignored);
    lowest_layer(stream_).close(ignored);
    Done done = std::move(done_);
    done(std::move(result));
  }

  tcp::resolver resolver_;
  Stream stream_;
  asio::steady_timer timer_;
  Target target_;
  http::request<http::string_body> request_;
  std::uint32_t timeout_ms_;
  Done done_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  bool finished_ = false;
};

std::shared_ptr<asio::ssl::context> make_tls_context() {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ignored;  // no CA store → every peer fails verification: safe
  ctx->set_default_verify_paths(ignored);
  ctx->set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

}  // namespace

struct HttpClient::Impl {
  explicit Impl(asio::io_context& context) : io(context) {}
  asio::io_context& io;
  // Shared with TLS exchanges, which may outlive the client.
  std::shared_ptr<asio::ssl::context> tls;
};

HttpClient::HttpClient(asio::io_context& io) : impl_(std::make_unique<Impl>(io)) {}
HttpClient::~HttpClient() = default;

asio::io_context& HttpClient::io() const { return impl_->io; }

void HttpClient::request(const WebhookConfig& config, std::string body,
                         std::vector<std::pair<std::string, std::string>> extra_headers,
                         std::function<void(Result<HttpClientResponse>)> done) {
  auto fail_later = [&](Error error) {
    asio::post(impl_->io, [done = std::move(done), error = std::move(error)]() mutable {
      done(std::move(error));
    });
  };
  auto target = parse_target(config.url);
  if (!target) return fail_later(target.error());

  http::request<http::string_body> req;
  const bool is_get = config.method == "GET";
  req.method(is_get ? http::verb::get : http::verb::post);
  req.target(target->target);
  req.version(11);
  req.set(http::field::host, target->host_header);
  req.set(http::field::user_agent, user_agent);
  req.set(http::field::accept, "application/json");
  if (!is_get) req.set(http::field::content_type, "application/json");
  req.set(http::field::connection, "close");
  using HeaderList = std::vector<std::pair<std::string, std::string>>;
  const HeaderList* lists[] = {&config.headers, &extra_headers};
  for (const HeaderList* list : lists) {
    for (const auto& [name, value] : *list) {
      if (name.empty() || !header_text_ok(name) || !header_text_ok(value)) {
        return fail_later(make_error("webhook_bad_header",
                                     "header \"" + name + "\" for " + target->host_header +
                                         " is empty or holds CR, LF or NUL"));
      }
      req.set(name, value);
    }
  }
  if (!is_get) req.body() = std::move(body);
  req.prepare_payload();

  const std::uint32_t timeout_ms = config.timeout_ms == 0 ? 1 : config.timeout_ms;
  if (target->tls) {
    if (!impl_->tls) impl_->tls = make_tls_context();
    using TlsStream = asio::ssl::stream<tcp::socket>;
    auto exchange = std::make_shared<Exchange<TlsStream>>(
        impl_->io, std::move(*target), std::move(req), timeout_ms, std::move(done), impl_->io,
        *impl_->tls);
    exchange->anchor = impl_->tls;  // the exchange may outlive the client
    asio::post(impl_->io, [exchange] { exchange->run(); });
  } else {
    auto exchange = std::make_shared<Exchange<tcp::socket>>(
        impl_->io, std::move(*target), std::move(req), timeout_ms, std::move(done), impl_->io);
    asio::post(impl_->io, [exchange] { exchange->run(); });
  }
}

}  // namespace parley::host
