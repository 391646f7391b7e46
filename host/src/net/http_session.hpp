// One HTTP connection: reads one request at a time (keep-alive), answers it, reads the next.
// What the bytes mean is the RequestReader's decision (Beast's parser and the RFC 9112
// framing check): a request it refuses is answered (400, 413, 431, 501) and the connection
// closed, so no byte after a framing error is ever read as a request. Limits: header_limit =
// max_header_bytes (431), body_limit = max_body_bytes (413), and handshake_timeout_s as the
// deadline for each request to arrive (408, then close). A WebSocket upgrade the Application
// accepts turns the connection into a WebSocketSession.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "connection.hpp"
#include "request_reader.hpp"

namespace parley::host::net {

class HttpSession : public Connection, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket socket, std::shared_ptr<ServerState> state);
  ~HttpSession() override;
  void run();
  void shut_down(std::uint16_t code, const std::string& reason) override;
  void abort() override;

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  void read_request();
  // Parses what is buffered; reads more, dispatches a request, or answers a refusal.
  void continue_reading();
  void on_read_deadline(boost::system::error_code ec);
  void on_read_some(boost::beast::error_code ec, std::size_t bytes);
  // The socket failed or the deadline passed: answer what can be answered, then close.
  void on_read_failed(boost::beast::error_code ec);
  void on_refused();
  void dispatch(Request request);
  // remote_ for `request`: the client behind a trusted proxy, or the TCP peer.
  std::string client_remote(const Request& request) const;
  void upgrade(Request request, const HttpRequest& plain);
  void call_application(const HttpRequest& plain);
  // Answers the current request. `close` ends the connection after the response.
  void send(HttpResponse response, bool close = false);
  void on_write(bool close, boost::beast::error_code ec, std::size_t bytes);
  // Half-close, drain what the peer still sends for up to 1 s (so it reads our error
  // response instead of a reset), then close.
  void close_gracefully();
  void drain();
  void close_now();

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  RequestReader reader_;
  boost::asio::steady_timer deadline_;
  std::shared_ptr<ServerState> state_;
  std::uint64_t registry_id_ = 0;
  // The client's address as the limits and logs see it: the TCP peer's ("addr:port"), or, when
  // the peer is a trusted proxy, the address its X-Forwarded-For names (set per request: one
  // proxy connection carries many clients' requests).
  std::string remote_;
  std::string peer_remote_;                   // the TCP peer's, "addr:port"
  boost::asio::ip::address peer_address_;
  std::unique_ptr<Response> response_;  // the response being written
  std::string drain_buffer_;

  // About the request being handled (for the response and the log line).
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  std::string method_;
  std::string path_;
  std::chrono::steady_clock::time_point started_{};
  std::uint64_t requests_served_ = 0;

  bool reading_ = false;
  bool timed_out_ = false;
  bool shutting_down_ = false;
  bool closed_ = false;
};

}  // namespace parley::host::net
