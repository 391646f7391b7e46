#include "websocket_session.hpp"

#include <chrono>
#include <exception>
#include <string_view>
#include <utility>

#include "parley/host/log.hpp"
#include "parley/json.hpp"

namespace parley::host::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

constexpr const char* server_name = "parley-host/0.1.0";
constexpr std::uint16_t close_no_status = 1005;  // the peer's close frame had no code
constexpr std::uint16_t close_abnormal = 1006;   // no close frame at all
constexpr std::uint16_t close_internal = 1011;
constexpr std::chrono::seconds idle_grace{1};
constexpr std::size_t max_close_reason = 123;

// A close reason is at most 123 bytes and must stay valid UTF-8: cut on a character boundary.
std::string cut_reason(std::string reason) {
  if (reason.size() <= max_close_reason) return reason;
  std::size_t end = max_close_reason;
  while (end > 0 && (static_cast<unsigned char>(reason[end]) & 0xC0u) == 0x80u) --end;
  reason.resize(end);
  return reason;
}

std::string_view buffer_view(const beast::flat_buffer& buffer) {
  const auto data = buffer.data();
  return std::string_view(static_cast<const char*>(data.data()), data.size());
}

}  // namespace

WebSocketSession::WebSocketSession(std::shared_ptr<ServerState> state, std::string remote)
    : state_(std::move(state)),
      remote_(std::move(remote)),
      idle_timer_(state_->io),
      close_timer_(state_->io) {}

WebSocketSession::~WebSocketSession() {
  if (registry_id_ != 0) state_->remove(registry_id_);
}

void WebSocketSession::abandon() {
  phase_ = Phase::done;
  control_.clear();
  media_.clear();
}

void WebSocketSession::start(asio::ip::tcp::socket socket,
                             beast::http::request<beast::http::string_body> upgrade,
                             std::shared_ptr<SocketHandler> handler) {
  registry_id_ = state_->add(weak_from_this());
  handler_ = std::move(handler);
  // Move the descriptor over to a socket of the concrete executor type (see ws_).
  Socket own(state_->io.get_executor());
  beast::error_code ec;
  const auto protocol = socket.local_endpoint(ec).protocol();
  if (!ec) own.assign(protocol, socket.release(ec), ec);
  ws_.emplace(WaitFirstSocket(std::move(own)));
  if (ec) {
    log_event(LogLevel::warn, "ws.adopt_failed", "remote=" + remote_ + " error=" + ec.message());
    return finish(close_abnormal, true);
  }

  const ServerLimits& limits = state_->limits();
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.handshake_timeout = std::chrono::seconds(limits.handshake_timeout_s);
  ws_->set_option(timeouts);
  ws_->set_option(websocket::stream_base::decorator(
      [](websocket::response_type& response) { response.set(beast::http::field::server, server_name); }));
  // Beast fails an oversized message with its own close code (1009); we enforce
  // max_ws_message_bytes ourselves in on_read to answer with onerror + 4413.
  ws_->read_message_max(0);
  ws_->auto_fragment(false);

  if (phase_ == Phase::done) return;  // closed by the handler and abandoned? nothing to do
  phase_ = Phase::handshake;
  ws_->async_accept(upgrade, beast::bind_front_handler(&WebSocketSession::on_accept,
                                                       shared_from_this()));
}

void WebSocketSession::on_accept(beast::error_code ec) {
  if (phase_ == Phase::done) return;
  if (ec) {
    log_event(LogLevel::debug, "ws.handshake_failed", "remote=" + remote_ + " error=" + ec.message());
    return finish(close_abnormal, true);
  }
  phase_ = Phase::open;
  // From now on Beast's timer only bounds the closing handshake. Its idle timeout would
  // re-arm a timer on every frame read; the session's own idle timer (armed once, checked
  // when it fires) does that job without per-frame cost.
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.handshake_timeout = std::chrono::seconds(state_->limits().handshake_timeout_s);
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  ws_->set_option(timeouts);
  ++state_->metrics.ws_connections_total;
  ++state_->metrics.ws_connections_open;
  counted_open_ = true;
  last_received_ = std::chrono::steady_clock::now();
  if (state_->limits().idle_timeout_s > 0)
    arm_idle_timer(std::chrono::seconds(state_->limits().idle_timeout_s));
  log_event(LogLevel::debug, "ws.open", "remote=" + remote_);
  read_next();
  write_next();  // frames (or a close) the application queued during open_socket
}

// ---- the write side

void WebSocketSession::send_text(std::string text) { enqueue(Frame{false, std::move(text)}); }

void WebSocketSession::send_binary(std::string bytes) { enqueue(Frame{true, std::move(bytes)}); }

void WebSocketSession::drop_queued_audio() { media_.clear(); }

void WebSocketSession::enqueue(Frame frame) {
  if (!is_open()) return;
  if (control_.size() + media_.size() >= state_->limits().max_send_queue) {
    // The peer does not read fast enough: drop what waits and hang up.
    state_->metrics.error("send_queue_overflow");
    log_event(LogLevel::warn, "ws.send_queue_overflow",
              "remote=" + remote_ + " limit=" + std::to_string(state_->limits().max_send_queue));
    control_.clear();
    media_.clear();
    close(1008, "send queue overflow");
    return;
  }
  (frame.binary ? media_ : control_).push_back(std::move(frame));
  write_next();
}

void WebSocketSession::close(std::uint16_t code, std::string reason) {
  if (close_requested_ || phase_ == Phase::done) return;
  close_requested_ = true;
  close_code_ = code;
  close_reason_ = cut_reason(std::move(reason));
  // Bound the whole closing: queued frames, our close frame and the peer's answer. Beast
  // bounds the handshake part; this also covers a peer that stopped reading mid-queue.
  close_timer_.expires_after(std::chrono::seconds(state_->limits().handshake_timeout_s) +
                             idle_grace);
  close_timer_.async_wait(beast::bind_front_handler(&WebSocketSession::on_close_deadline,
                                                    shared_from_this()));
  write_next();
}

bool WebSocketSession::is_open() const { return phase_ != Phase::done && !close_requested_; }

std::size_t WebSocketSession::queued() const {
  return control_.size() + media_.size() + (writing_ ? 1 : 0);
}

void WebSocketSession::shut_down(std::uint16_t code, const std::string& reason) {
  close(code, reason);
}

void WebSocketSession::abort() {
  // The code the handler hears: the close we asked for, if we did (the server's 1001).
  finish(close_requested_ ? close_code_ : close_abnormal, true);
}

void WebSocketSession::write_next() {
  if (writing_ || phase_ != Phase::open) return;
  if (!control_.empty() || !media_.empty()) {
    // Control before audio: a pong or a `clear` never waits behind queued agent audio.
    std::deque<Frame>& lane = control_.empty() ? media_ : control_;
    in_flight_ = std::move(lane.front());
    lane.pop_front();
    writing_ = true;
    ws_->binary(in_flight_.binary);
    ws_->async_write(asio::buffer(in_flight_.data),
                     beast::bind_front_handler(&WebSocketSession::on_write, shared_from_this()));
    return;
  }
  if (close_requested_ && !close_sent_) {
    close_sent_ = true;
    writing_ = true;
    ws_->async_close(websocket::close_reason(static_cast<websocket::close_code>(close_code_),
                                             close_reason_),
                     beast::bind_front_handler(&WebSocketSession::on_close, shared_from_this()));
  }
}

void WebSocketSession::on_write(beast::error_code ec, std::size_t bytes) {
  writing_ = false;
  if (phase_ == Phase::done) return;
  if (ec) {
    log_event(LogLevel::debug, "ws.write_failed", "remote=" + remote_ + " error=" + ec.message());
    return finish(close_requested_ ? close_code_ : close_abnormal, true);
  }
  if (in_flight_.binary)
    ++state_->metrics.frames_out_binary;
  else
    ++state_->metrics.frames_out_text;
  state_->metrics.bytes_out += bytes;
  in_flight_.data.clear();
  write_next();
}

void WebSocketSession::on_close(beast::error_code ec) {
  writing_ = false;
  // Whether or not the peer answered in time, the code we sent is the one the session ends on.
  finish(close_code_, static_cast<bool>(ec));
}

// ---- the read side

void WebSocketSession::read_next() {
  // While closing, Beast's close operation reads (and discards) until the peer's close frame.
  if (reading_ || phase_ != Phase::open || close_requested_) return;
  reading_ = true;
  // Never buffer more than the limit + 1 byte: one byte over is enough to refuse.
  const std::size_t room = state_->limits().max_ws_message_bytes + 1 - read_buffer_.size();
  ws_->async_read_some(read_buffer_, room,
                       beast::bind_front_handler(&WebSocketSession::on_read, shared_from_this()));
}

void WebSocketSession::on_read(beast::error_code ec, std::size_t) {
  reading_ = false;
  if (phase_ == Phase::done) return;
  if (ec) {
    if (close_sent_) return;  // on_close finishes with our code
    if (ec == websocket::error::closed) {
      const auto code = static_cast<std::uint16_t>(ws_->reason().code);
      return finish(code == 0 ? close_no_status : code, false);
    }
    log_event(LogLevel::debug, "ws.read_failed", "remote=" + remote_ + " error=" + ec.message());
    return finish(close_requested_ ? close_code_ : close_abnormal, true);
  }
  last_received_ = std::chrono::steady_clock::now();
  if (close_requested_) {
    read_buffer_.clear();  // we are closing: what arrives now is nobody's business
    return;
  }
  if (read_buffer_.size() > state_->limits().max_ws_message_bytes) return refuse_too_large();
  if (ws_->is_message_done()) deliver_message();
  read_next();
}

void WebSocketSession::deliver_message() {
  const bool binary = ws_->got_binary();
  const std::string_view message = buffer_view(read_buffer_);
  if (binary)
    ++state_->metrics.frames_in_binary;
  else
    ++state_->metrics.frames_in_text;
  state_->metrics.bytes_in += message.size();
  idle_notified_ = false;
  // last_received_ was read just before: the handling time runs from there.
  try {
    if (binary)
      handler_->on_binary(reinterpret_cast<const std::uint8_t*>(message.data()), message.size());
    else
      handler_->on_text(message);
  } catch (const std::exception& e) {
    report_handler_failure(e.what());
  }
  read_buffer_.clear();
  const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - last_received_)
                        .count();
  (binary ? state_->metrics.ws_handling_binary : state_->metrics.ws_handling_text)
      .observe_us(took > 0 ? static_cast<std::uint64_t>(took) : 0);
}

void WebSocketSession::refuse_too_large() {
  const std::uint32_t limit = state_->limits().max_ws_message_bytes;
  state_->metrics.error("ws_too_large");
  log_event(LogLevel::info, "ws.too_large", "remote=" + remote_ + " limit=" + std::to_string(limit));
  read_buffer_.clear();
  json error = json::object();
  error["method"] = "onerror";
  error["data"] = json{{"code", "too_large"},
                       {"message", "message exceeds max_ws_message_bytes (" +
                                       std::to_string(limit) + " bytes)"}};
  send_text(to_json_text(error));
  close(4413, "too large");
}

// ---- timers

void WebSocketSession::arm_idle_timer(std::chrono::steady_clock::duration after) {
  idle_timer_.expires_after(after);
  idle_timer_.async_wait(
      beast::bind_front_handler(&WebSocketSession::on_idle_timer, shared_from_this()));
}

void WebSocketSession::on_idle_timer(boost::system::error_code ec) {
  if (ec || phase_ == Phase::done) return;
  const auto idle = std::chrono::seconds(state_->limits().idle_timeout_s);
  const auto now = std::chrono::steady_clock::now();
  if (idle_notified_) {
    // The grace second after on_idle_timeout: close ourselves if the handler did not.
    if (is_open() && now - last_received_ >= idle) close(4408, "idle timeout");
    if (phase_ != Phase::done) arm_idle_timer(idle);
    return;
  }
  // One timer for the whole session: it is not re-armed per frame; when it fires early
  // (something arrived since) it waits for the rest of the period.
  if (now - last_received_ < idle) return arm_idle_timer(last_received_ + idle - now);
  if (!is_open()) return;
  idle_notified_ = true;
  try {
    handler_->on_idle_timeout();
  } catch (const std::exception& e) {
    report_handler_failure(e.what());
  }
  if (phase_ != Phase::done) arm_idle_timer(idle_grace);
}

void WebSocketSession::on_close_deadline(boost::system::error_code ec) {
  if (ec || phase_ == Phase::done) return;
  log_event(LogLevel::debug, "ws.close_timeout", "remote=" + remote_);
  finish(close_code_, true);
}

void WebSocketSession::report_handler_failure(const char* what) {
  log_event(LogLevel::error, "ws.handler_failed", std::string("remote=") + remote_ + " " + what);
  state_->metrics.error("internal");
  close(close_internal, "internal error");
}

void WebSocketSession::finish(std::uint16_t code, bool teardown) {
  if (phase_ == Phase::done) return;
  phase_ = Phase::done;
  control_.clear();
  media_.clear();
  idle_timer_.cancel();
  close_timer_.cancel();
  if (teardown && ws_) {
    beast::error_code ignored;
    ws_->next_layer().close(ignored);
  }
  if (counted_open_) {
    --state_->metrics.ws_connections_open;
    counted_open_ = false;
  }
  log_event(LogLevel::debug, "ws.closed", "remote=" + remote_ + " code=" + std::to_string(code));
  if (auto handler = std::move(handler_)) {
    try {
      handler->on_closed(code);
    } catch (const std::exception& e) {
      log_event(LogLevel::error, "ws.handler_failed", std::string("on_closed: ") + e.what());
    }
  }
}

}  // namespace parley::host::net
