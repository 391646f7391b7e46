// One WebSocket after an accepted upgrade. It is the application's SocketSink (a single
// writer drains two queues: text frames first, then binary ones, each in order; see
// net_types.hpp) and drives the application's SocketHandler:
// on_text / on_binary per complete message, on_idle_timeout after idle_timeout_s without a
// received frame, on_closed exactly once.
//
// Limits: a message over max_ws_message_bytes gets an onerror text frame (code "too_large")
// and close 4413; a send queue over max_send_queue is dropped and the socket closed with 1008
// (errors{kind="send_queue_overflow"}); the upgrade and the closing handshake must finish
// within handshake_timeout_s; if the handler does not close after on_idle_timeout, the
// socket is closed with 4408 one second later.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "connection.hpp"
#include "wait_first_socket.hpp"

namespace parley::host::net {

class WebSocketSession : public Connection,
                         public SocketSink,
                         public std::enable_shared_from_this<WebSocketSession> {
 public:
  WebSocketSession(std::shared_ptr<ServerState> state, std::string remote);
  ~WebSocketSession() override;

  // Takes over the connection and answers the upgrade; the handler sees everything after.
  void start(boost::asio::ip::tcp::socket socket,
             boost::beast::http::request<boost::beast::http::string_body> upgrade,
             std::shared_ptr<SocketHandler> handler);
  // The application refused the upgrade: the sink is dead, sends are dropped.
  void abandon();

  // SocketSink
  void send_text(std::string text) override;
  void send_binary(std::string bytes) override;
  void drop_queued_audio() override;
  void close(std::uint16_t code, std::string reason) override;
  bool is_open() const override;
  std::size_t queued() const override;

  // Connection
  void shut_down(std::uint16_t code, const std::string& reason) override;
  void abort() override;

 private:
  struct Frame {
    bool binary = false;
    std::string data;
  };
  enum class Phase { created, handshake, open, done };

  void on_accept(boost::beast::error_code ec);
  void enqueue(Frame frame);
  void write_next();
  void on_write(boost::beast::error_code ec, std::size_t bytes);
  void on_close(boost::beast::error_code ec);
  void read_next();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void deliver_message();
  void refuse_too_large();
  void arm_idle_timer(std::chrono::steady_clock::duration after);
  void on_idle_timer(boost::system::error_code ec);
  void on_close_deadline(boost::system::error_code ec);
  // Ends the session: on_closed(code) exactly once, counters, timers. `teardown` also
  // closes the socket (abnormal ends; a clean close has already torn it down).
  void finish(std::uint16_t code, bool teardown);
  void report_handler_failure(const char* what);

  std::shared_ptr<ServerState> state_;
  std::string remote_;
  // Over the plain socket, not beast::tcp_stream: the websocket stream keeps its own
  // handshake and close timeouts, and tcp_stream's per-operation timer bookkeeping was a
  // measurable share of the host's cost per audio frame (bench/host-load/README.md). The
  // socket has the io_context's concrete executor type rather than the type-erased
  // any_io_executor (every composed operation copies its executor), and reads that wait for
  // readability first (wait_first_socket.hpp).
  using Socket = WaitFirstSocket::socket_type;
  std::optional<boost::beast::websocket::stream<WaitFirstSocket>> ws_;
  std::shared_ptr<SocketHandler> handler_;
  std::uint64_t registry_id_ = 0;
  Phase phase_ = Phase::created;

  std::deque<Frame> control_;  // text frames: written before any queued binary frame
  std::deque<Frame> media_;    // binary frames (agent audio)
  Frame in_flight_;
  bool writing_ = false;

  boost::beast::flat_buffer read_buffer_;
  bool reading_ = false;

  bool close_requested_ = false;
  bool close_sent_ = false;
  std::uint16_t close_code_ = 1000;
  std::string close_reason_;

  boost::asio::steady_timer idle_timer_;
  boost::asio::steady_timer close_timer_;
  std::chrono::steady_clock::time_point last_received_{};
  bool idle_notified_ = false;
  bool counted_open_ = false;
};

}  // namespace parley::host::net
