// One outgoing HTTP/1.1 connection (plain TCP or TLS over Beast's tcp_stream) and the pool
// that keeps idle ones alive per upstream. Internal to the HttpClient (http_client.cpp).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "parley/host/http_client.hpp"

namespace parley::host::http_detail {

class HttpConnection {
 public:
  using Plain = boost::beast::tcp_stream;
  using Secure = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  // `tls` null: plain TCP. The context must outlive the connection (the client's Impl,
  // which every exchange and idle watch keeps alive, owns it).
  HttpConnection(boost::asio::io_context& io, boost::asio::ssl::context* tls, std::string key);
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool tls() const { return secure_.has_value(); }
  const std::string& key() const { return key_; }
  Plain& tcp();
  Secure& secure() { return *secure_; }
  // Calls f(stream) with the outermost stream (TLS or plain).
  template <class F>
  void with_stream(F&& f) {
    if (secure_) {
      f(*secure_);
    } else {
      f(*plain_);
    }
  }
  // Bytes read past the last message (pipelining is never used: any left means the
  // connection cannot be reused).
  boost::beast::flat_buffer& buffer() { return buffer_; }
  // Shuts the socket down and closes it at once; idempotent. Pending operations end with
  // operation_aborted; the peer sees the connection end (FIN) immediately.
  void close();
  bool is_open();

  std::uint64_t exchanges = 0;        // completed on this connection
  std::uint64_t idle_generation = 0;  // bumped whenever it enters or leaves the pool

 private:
  std::string key_;
  std::optional<Plain> plain_;
  std::optional<Secure> secure_;
  boost::beast::flat_buffer buffer_;
};

// Idle connections by upstream key ("https://host:port"), newest reused first. While idle a
// connection's socket is watched: anything readable (the server's FIN, a TLS close_notify,
// stray bytes) means it cannot carry another request, and it is closed and dropped. Each
// idle connection also expires after options.idle_keep_ms.
class ConnectionPool : public std::enable_shared_from_this<ConnectionPool> {
 public:
  ConnectionPool(boost::asio::io_context& io, const HttpClientOptions& options);
  ~ConnectionPool();

  std::shared_ptr<HttpConnection> take(const std::string& key);  // or null
  void give(std::shared_ptr<HttpConnection> connection);
  void close_all();
  std::size_t idle() const;

 private:
  struct Idle {
    std::shared_ptr<HttpConnection> connection;
    std::shared_ptr<boost::asio::steady_timer> expiry;
  };
  void drop(const std::shared_ptr<HttpConnection>& connection, std::uint64_t generation);

  boost::asio::io_context& io_;
  HttpClientOptions options_;
  std::map<std::string, std::deque<Idle>> idle_;
};

}  // namespace parley::host::http_detail
