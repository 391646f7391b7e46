// The conversation with a custom LLM over a WebSocket (custom_llm_websocket), in the message
// shapes of Millis AI's "custom LLM" protocol where it documents them and ours where it is
// silent. The protocol is written down in CUSTOM_LLM.md beside this file.
//
// One socket per session. start(): connect (ws:// or wss://) and send start_call, all within
// connect_timeout_ms. respond(): send stream_request with the whole transcript, join the
// stream_response pieces of that stream id until end_of_stream (or the turn timeout), run
// function_calls through the agent's tools and send their results back. Responses for any
// other stream id are stale and ignored, except start_call's stream 0: what comes on it is
// the agent's greeting, handed to the listening call when it ends. end_call is honoured
// whenever it comes. Every callback is called exactly once.
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/url/parse.hpp>
#include <openssl/ssl.h>

#include "agent_internal.hpp"
#include "parley/host/ids.hpp"
#include "parley/host/log.hpp"
#include "parley/templates.hpp"

namespace parley::host::agent_detail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

struct WsTarget {
  bool tls = false;
  std::string host;         // for the resolver and the TLS checks (no brackets)
  std::string port;
  std::string host_header;  // host[:port] as in the URL
  std::string target;       // path and query
};

Result<WsTarget> parse_ws_url(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    return make_error("llm_bad_url",
                      "custom_llm_websocket \"" + url + "\" is not a valid absolute URL");
  }
  const auto& u = *parsed;
  WsTarget t;
  if (u.scheme_id() == boost::urls::scheme::ws) {
    t.tls = false;
  } else if (u.scheme_id() == boost::urls::scheme::wss) {
    t.tls = true;
  } else {
    return make_error("llm_bad_url",
                      "custom_llm_websocket \"" + url + "\" must start with ws:// or wss://");
  }
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4: t.host = u.host_ipv4_address().to_string(); break;
    case boost::urls::host_type::ipv6: t.host = u.host_ipv6_address().to_string(); break;
    case boost::urls::host_type::name: t.host = u.host(); break;
    default: break;
  }
  if (t.host.empty()) {
    return make_error("llm_bad_url", "custom_llm_websocket \"" + url + "\" has no host");
  }
  if (u.has_port() && u.port_number() == 0) {
    return make_error("llm_bad_url", "custom_llm_websocket \"" + url + "\" has a bad port");
  }
  t.port = u.has_port() ? std::to_string(u.port_number()) : (t.tls ? "443" : "80");
  t.host_header = std::string(u.encoded_host_and_port());
  t.target = u.encoded_path().empty() ? std::string("/") : std::string(u.encoded_path());
  if (u.has_query()) t.target += "?" + std::string(u.encoded_query());
  return t;
}

// Longest prefix of `text` of at most `limit` bytes that does not split a UTF-8 sequence.
std::size_t utf8_cut(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return text.size();
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

// A stream id as the LLM sent it: our ids are integers; accept their decimal text too.
std::optional<std::int64_t> stream_id_of(const json& data) {
  if (!data.is_object() || !data.contains("stream_id")) return std::nullopt;
  const json& id = data["stream_id"];
  if (id.is_number_integer()) return id.get<std::int64_t>();
  if (id.is_string()) {
    const auto& s = id.get_ref<const std::string&>();
    if (s.empty() || s.size() > 18) return std::nullopt;
    std::int64_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    return v;
  }
  return std::nullopt;
}

// Members read without throwing: a wrong type counts as absent.
std::string string_member(const json& data, const char* key) {
  if (!data.is_object() || !data.contains(key) || !data[key].is_string()) return {};
  return data[key].get<std::string>();
}

bool true_member(const json& data, const char* key) {
  return data.is_object() && data.contains(key) && data[key].is_boolean() && data[key].get<bool>();
}

// Millis's `pause` (ms of silence after this piece): a whole number, capped at kMaxPauseMs;
// anything else counts as none.
constexpr std::uint32_t kMaxPauseMs = 10000;
std::uint32_t pause_member(const json& data) {
  if (!data.is_object() || !data.contains("pause")) return 0;
  const json& p = data["pause"];
  if (!p.is_number() || p.get<double>() <= 0) return 0;
  const double ms = p.get<double>();
  return ms >= kMaxPauseMs ? kMaxPauseMs : static_cast<std::uint32_t>(ms);
}

json message(const char* type, json data) {
  return json{{"type", type}, {"data", std::move(data)}};
}

struct QueuedTurn {
  std::string text;
  TurnHooks hooks;
  std::function<void(AgentReply)> done;
};

struct Turn {
  std::int64_t stream_id = 0;
  std::string text;
  bool cut = false;           // max_reply_bytes reached: later pieces are dropped
  bool end_of_stream = false;
  bool end_call = false;
  int tools_running = 0;
  std::vector<AgentAction> actions;
  TurnHooks hooks;
  std::function<void(AgentReply)> done;
};

template <class Ws>
class LlmLink : public Conversation, public std::enable_shared_from_this<LlmLink<Ws>> {
 public:
  static constexpr bool is_tls = std::is_same_v<Ws, TlsWs>;

  template <class... StreamArgs>
  LlmLink(asio::io_context& io, HttpClient& http, ConversationContext context, WsTarget target,
          StreamArgs&&... stream_args)
      : io_(io),
        http_(http),
        context_(std::move(context)),
        target_(std::move(target)),
        resolver_(io),
        ws_(std::forward<StreamArgs>(stream_args)...),
        connect_timer_(io),
        turn_timer_(io),
        greeting_timer_(io) {
    variables_ = template_variables(context_);
    prompt_ = assemble_system_prompt(*context_.agent, variables_, context_.metadata,
                                     context_.include_metadata_in_prompt,
                                     context_.extra_prompt);
    for (const auto& line : context_.history) {
      transcript_.push_back({{"role", line.inbound ? "user" : "assistant"},
                             {"content", line.text}});
    }
  }

  std::shared_ptr<void> anchor;  // the TLS context, kept as long as the stream

  void start(std::function<void(Status)> done) override {
    if (state_ != State::fresh) {
      Status status = make_error("llm_state", "the custom LLM link was already started");
      asio::post(io_, [done = std::move(done), status]() mutable { done(status); });
      return;
    }
    state_ = State::connecting;
    start_done_ = std::move(done);
    auto self = this->shared_from_this();
    connect_timer_.expires_after(std::chrono::milliseconds(context_.llm_limits.connect_timeout_ms));
    connect_timer_.async_wait([self](beast::error_code ec) {
      if (ec || self->state_ != State::connecting) return;
      self->fail_start(make_error(
          "llm_timeout", "the custom LLM at " + self->target_.host_header + " did not accept " +
                             "the call within " +
                             std::to_string(self->context_.llm_limits.connect_timeout_ms) +
                             " ms"));
    });
    resolver_.async_resolve(target_.host, target_.port,
                            [self](beast::error_code ec, tcp::resolver::results_type results) {
                              self->on_resolve(ec, std::move(results));
                            });
  }

  void respond(std::string user_text, TurnHooks partial,
               std::function<void(AgentReply)> done) override {
    if (turn_) finish_turn(/*interrupted=*/true);
    if (state_ == State::connecting) {
      // The first message may come before the link is up: it waits (for the connect
      // timeout at most). A second one replaces it; the first gets the fallback.
      if (queued_) answer_with_fallback(std::move(queued_->done));
      queued_ = QueuedTurn{std::move(user_text), std::move(partial), std::move(done)};
      return;
    }
    if (state_ != State::ready) return answer_with_fallback(std::move(done));
    begin_turn(std::move(user_text), std::move(partial), std::move(done));
  }

  void begin_turn(std::string user_text, TurnHooks partial,
                  std::function<void(AgentReply)> done) {
    close_greeting();  // the user speaks: the greeting is what came of it so far
    transcript_.push_back({{"role", "user"}, {"content", std::move(user_text)}});
    last_reply_in_transcript_ = false;
    turn_.emplace();
    turn_->stream_id = ++last_stream_id_;
    turn_->hooks = std::move(partial);
    turn_->done = std::move(done);
    send(message("stream_request",
                 {{"stream_id", turn_->stream_id}, {"transcript", transcript_}}));
    auto self = this->shared_from_this();
    const std::int64_t id = turn_->stream_id;
    turn_timer_.expires_after(std::chrono::milliseconds(context_.llm_limits.turn_timeout_ms));
    turn_timer_.async_wait([self, id](beast::error_code ec) {
      if (ec || !self->turn_ || self->turn_->stream_id != id) return;
      log_event(LogLevel::warn, "llm.turn_timeout",
                "agent=" + self->context_.agent->id + " stream_id=" + std::to_string(id));
      self->finish_turn(/*interrupted=*/true);  // tells the LLM to stop this stream
    });
  }

  void interrupt(std::string heard) override {
    if (turn_) return finish_turn(/*interrupted=*/true, std::move(heard));
    // The reply is over but was still being spoken: the transcript keeps what was heard.
    if (!last_reply_in_transcript_ || transcript_.empty()) return;
    json& last = transcript_.back();
    if (last.value("role", "") != "assistant") return;
    if (heard.empty()) {
      transcript_.erase(transcript_.end() - 1);
      last_reply_in_transcript_ = false;
    } else {
      last["content"] = std::move(heard);
    }
  }

  void close() override {
    if (state_ == State::closed) return;
    const bool was_open = state_ == State::ready;
    if (state_ == State::connecting) {
      fail_start(make_error("llm_closed", "the call ended before the custom LLM answered"));
    }
    state_ = State::closed;
    if (turn_) finish_turn(/*interrupted=*/true);
    connect_timer_.cancel();
    turn_timer_.cancel();
    greeting_timer_.cancel();
    resolver_.cancel();
    if (was_open && !writing_) {
      close_socket_gracefully();
    } else {
      close_requested_ = true;  // after the write in flight, or nothing to do
      if (!was_open) force_close();
    }
  }

  const std::string& system_prompt() const override { return prompt_; }

  void listen(ConversationEvents events) override {
    events_ = std::move(events);
    listening_ = true;
    // What came before anyone listened.
    if (pending_greeting_) {
      std::string text = std::move(*pending_greeting_);
      pending_greeting_.reset();
      deliver_greeting(std::move(text));
    }
    if (pending_end_call_) {
      pending_end_call_ = false;
      deliver_end_call();
    }
  }

  // Millis's partial_transcript: the user's words as they are recognised.
  void user_speech(const std::string& text, bool is_final) override {
    send(message("partial_transcript", {{"session_id", context_.session_id},
                                        {"transcript", text},
                                        {"is_final", is_final}}));
  }

  // Millis's playback_finished: the reply of stream_id was played to the end.
  void playback_finished(std::int64_t stream_id) override {
    send(message("playback_finished",
                 {{"session_id", context_.session_id}, {"stream_id", stream_id}}));
  }

 private:
  enum class State { fresh, connecting, ready, closed };

  // ---- connecting ----------------------------------------------------------------------

  void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (state_ != State::connecting) return;
    if (ec) {
      return fail_start(make_error("llm_connect", "cannot resolve the custom LLM host " +
                                                      target_.host + ": " + ec.message()));
    }
    auto self = this->shared_from_this();
    beast::get_lowest_layer(ws_).async_connect(
        results, [self](beast::error_code e, const tcp::endpoint&) { self->on_connect(e); });
  }

  void on_connect(beast::error_code ec) {
    if (state_ != State::connecting) return;
    if (ec) {
      return fail_start(make_error("llm_connect", "cannot connect to the custom LLM at " +
                                                      target_.host_header + ": " + ec.message()));
    }
    auto self = this->shared_from_this();
    if constexpr (is_tls) {
      auto& tls = ws_.next_layer();
      beast::error_code not_ip;
      asio::ip::make_address(target_.host, not_ip);
      if (not_ip) SSL_set_tlsext_host_name(tls.native_handle(), target_.host.c_str());
      tls.set_verify_mode(asio::ssl::verify_peer);
      tls.set_verify_callback(asio::ssl::host_name_verification(target_.host));
      tls.async_handshake(asio::ssl::stream_base::client, [self](beast::error_code e) {
        if (self->state_ != State::connecting) return;
        if (e) {
          return self->fail_start(make_error("llm_connect",
                                             "TLS handshake with the custom LLM at " +
                                                 self->target_.host_header +
                                                 " failed: " + e.message()));
        }
        self->ws_handshake();
      });
    } else {
      ws_handshake();
    }
  }

  void ws_handshake() {
    websocket::stream_base::timeout timeouts;
    timeouts.handshake_timeout = std::chrono::milliseconds(context_.llm_limits.connect_timeout_ms);
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    ws_.read_message_max(context_.llm_limits.max_message_bytes);
    ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(beast::http::field::user_agent, "parley-host/1");
    }));
    auto self = this->shared_from_this();
    ws_.async_handshake(target_.host_header, target_.target, [self](beast::error_code ec) {
      if (self->state_ != State::connecting) return;
      if (ec) {
        return self->fail_start(make_error("llm_connect",
                                           "WebSocket handshake with the custom LLM at " +
                                               self->target_.host_header +
                                               " failed: " + ec.message()));
      }
      self->send_start_call();
    });
  }

  void send_start_call() {
    json data = {{"stream_id", 0},
                 {"session_id", context_.session_id},
                 {"agent_id", context_.agent->id},
                 {"metadata", context_.metadata.is_object() ? context_.metadata : json::object()},
                 {"variables", variables_},
                 {"history", transcript_},
                 {"prompt", prompt_},
                 {"first_message", fill_template_text(context_.agent->first_message)},
                 {"language", context_.agent->language},
                 {"voip", context_.voip},
                 {"call_sid", context_.call_sid.empty() ? json(nullptr) : json(context_.call_sid)}};
    ws_.text(true);
    auto text = std::make_shared<std::string>(to_json_text(message("start_call", std::move(data))));
    auto self = this->shared_from_this();
    writing_ = true;
    ws_.async_write(asio::buffer(*text), [self, text](beast::error_code ec, std::size_t) {
      self->writing_ = false;
      if (self->state_ != State::connecting) return self->after_write();
      if (ec) {
        return self->fail_start(make_error("llm_io", "sending start_call to the custom LLM at " +
                                                         self->target_.host_header +
                                                         " failed: " + ec.message()));
      }
      self->state_ = State::ready;
      self->connect_timer_.cancel();
      self->arm_greeting_timer();
      self->read();
      if (self->queued_) {
        QueuedTurn queued = std::move(*self->queued_);
        self->queued_.reset();
        self->begin_turn(std::move(queued.text), std::move(queued.hooks),
                         std::move(queued.done));
      }
      auto done = std::move(self->start_done_);
      done(ok_status());
      self->after_write();
    });
  }

  void fail_start(Error error) {
    log_event(LogLevel::warn, "llm.start_failed",
              "agent=" + context_.agent->id + " " + error.message);
    state_ = State::closed;
    connect_timer_.cancel();
    resolver_.cancel();
    force_close();
    if (queued_) {
      answer_with_fallback(std::move(queued_->done));
      queued_.reset();
    }
    if (start_done_) {
      auto done = std::move(start_done_);
      start_done_ = nullptr;
      done(Status(std::move(error)));
    }
  }

  // ---- reading -------------------------------------------------------------------------

  void read() {
    auto self = this->shared_from_this();
    ws_.async_read(buffer_, [self](beast::error_code ec, std::size_t) {
      if (ec) return self->on_link_lost(ec);
      std::string text = beast::buffers_to_string(self->buffer_.data());
      self->buffer_.consume(self->buffer_.size());
      if (self->ws_.got_text()) self->on_message(text);
      if (self->state_ == State::ready) self->read();
    });
  }

  void on_link_lost(beast::error_code ec) {
    if (state_ != State::ready) return;
    log_event(LogLevel::warn, "llm.link_lost",
              "agent=" + context_.agent->id + " " + ec.message());
    state_ = State::closed;
    turn_timer_.cancel();
    close_greeting();
    if (turn_) finish_turn(/*interrupted=*/true);
    force_close();
  }

  void on_message(const std::string& text) {
    auto parsed = parse_json(text, "custom LLM message");
    if (!parsed || !parsed->is_object() || !(*parsed).contains("type") ||
        !(*parsed)["type"].is_string()) {
      log_event(LogLevel::debug, "llm.bad_message",
                "agent=" + context_.agent->id + " a message that is not {type, data} ignored");
      return;
    }
    const json& msg = parsed.value();
    const std::string& type = msg["type"].get_ref<const std::string&>();
    const json data = msg.contains("data") ? msg["data"] : json::object();
    if (type == "stream_response") return on_stream_response(data);
    if (type == "function_call") return on_function_call(data);
    if (type == "end_call") return on_end_call(data);
    if (type == "transfer_call") return on_transfer_call(data);
    log_event(LogLevel::debug, "llm.ignored",
              "agent=" + context_.agent->id + " type=" + type.substr(0, 40));
  }

  // True when `data` belongs to the turn in flight (a stale or unknown stream id is not).
  bool for_current_turn(const json& data) const {
    auto id = stream_id_of(data);
    return turn_ && id && *id == turn_->stream_id;
  }

  void on_stream_response(const json& data) {
    auto id = stream_id_of(data);
    if (id && *id == 0 && !greeting_closed_) {
      // The greeting: start_call's stream (Millis: the first message your server sends).
      append_greeting(string_member(data, "content"));
      if (true_member(data, "end_of_stream")) close_greeting();
      return;
    }
    if (!for_current_turn(data)) return;  // stale
    append_piece(string_member(data, "content"));
    const bool flush = true_member(data, "flush");
    const std::uint32_t pause_ms = pause_member(data);
    if ((flush || pause_ms > 0) && turn_ && turn_->hooks.cue) {
      auto cue = turn_->hooks.cue;  // a copy: the hook may end the turn
      cue(flush, pause_ms);
    }
    if (turn_ && true_member(data, "end_of_stream")) {
      turn_->end_of_stream = true;
      maybe_finish_turn();
    }
  }

  // ---- the greeting (start_call's stream 0) -----------------------------------------------

  void arm_greeting_timer() {
    auto self = this->shared_from_this();
    greeting_timer_.expires_after(std::chrono::milliseconds(context_.llm_limits.turn_timeout_ms));
    greeting_timer_.async_wait([self](beast::error_code ec) {
      if (!ec) self->close_greeting();
    });
  }

  void append_greeting(std::string_view piece) {
    const std::size_t room = context_.llm_limits.max_reply_bytes - greeting_.size();
    if (piece.size() > room) piece = piece.substr(0, utf8_cut(piece, room));
    greeting_.append(piece);
  }

  // No more greeting: what came of it (if anything) goes to the listening call.
  void close_greeting() {
    if (greeting_closed_) return;
    greeting_closed_ = true;
    greeting_timer_.cancel();
    if (greeting_.empty()) return;
    transcript_.push_back({{"role", "assistant"}, {"content", greeting_}});
    last_reply_in_transcript_ = true;  // a barge-in over it keeps what was heard
    deliver_greeting(std::move(greeting_));
    greeting_.clear();
  }

  void deliver_greeting(std::string text) {
    if (!listening_) {
      pending_greeting_ = std::move(text);
      return;
    }
    if (!events_.greeting) return;
    asio::post(io_, [greet = events_.greeting, text = std::move(text)]() mutable {
      greet(std::move(text));
    });
  }

  void deliver_end_call() {
    if (!listening_) {
      pending_end_call_ = true;
      return;
    }
    if (!events_.end_call) return;
    asio::post(io_, [end = events_.end_call] { end(); });
  }

  void append_piece(std::string_view piece) {
    if (piece.empty() || turn_->cut) return;
    const std::size_t room = context_.llm_limits.max_reply_bytes - turn_->text.size();
    if (piece.size() > room) {
      piece = piece.substr(0, utf8_cut(piece, room));
      turn_->cut = true;
    }
    turn_->text.append(piece);
    if (turn_->hooks.text && !piece.empty()) {
      auto hook = turn_->hooks.text;  // a copy: the hook may end the turn
      hook(piece);
    }
  }

  // end_call is honoured whenever it comes (Millis: "to terminate the call"): with a turn in
  // flight, the call ends after that turn's reply; otherwise (after the last stream_response,
  // or before any turn) at once, once what is being said has been said.
  void on_end_call(const json& data) {
    (void)data;
    close_greeting();
    if (turn_) {
      turn_->end_call = true;
      turn_->end_of_stream = true;
      return maybe_finish_turn();
    }
    deliver_end_call();
  }

  // The call does the transfer (a SIP REFER on a phone call; a web call has no line to
  // transfer). One that worked ends the call; one that did not is told to the LLM as an
  // `error` message (Parley's) naming why, with the SIP code where there is one, and the call
  // goes on.
  void on_transfer_call(const json& data) {
    const json stream_id = data.is_object() && data.contains("stream_id") ? data["stream_id"] : json();
    std::string destination = string_member(data, "destination");
    log_event(LogLevel::info, "llm.transfer_call",
              "agent=" + context_.agent->id + " session=" + short_id(context_.session_id) +
                  " destination=" + destination.substr(0, 64));
    std::weak_ptr<LlmLink> weak = this->weak_from_this();
    TransferDone done = [weak, stream_id](TransferOutcome outcome) {
      if (auto self = weak.lock()) self->transfer_outcome(stream_id, outcome);
    };
    if (!events_.transfer) {
      return done({false, "transfer_unsupported", 0,
                   "this call cannot be transferred (nothing is listening to the call)"});
    }
    asio::post(io_, [transfer = events_.transfer, destination = std::move(destination),
                     done = std::move(done)]() mutable { transfer(std::move(destination), std::move(done)); });
  }

  void transfer_outcome(const json& stream_id, const TransferOutcome& outcome) {
    if (outcome.transferred || state_ == State::closed) return;  // the call ends
    log_event(LogLevel::warn, "llm.transfer_refused",
              "agent=" + context_.agent->id + " session=" + short_id(context_.session_id) + " " +
                  outcome.code + ": " + outcome.message);
    json data = {{"stream_id", stream_id},
                 {"code", outcome.code},
                 {"message", "transfer_call was refused: " + outcome.message + "; the call goes on"}};
    if (outcome.sip_code) data["sip_code"] = outcome.sip_code;
    send(message("error", std::move(data)));
  }

  void on_function_call(const json& data) {
    if (!for_current_turn(data)) return;
    AgentAction action;
    action.name = string_member(data, "name");
    json arguments = data.contains("arguments") ? data["arguments"] : json::object();
    if (arguments.is_string()) {  // OpenAI-style models give the arguments as JSON text
      auto parsed = parse_json(arguments.get<std::string>(), "function_call arguments");
      arguments = parsed ? parsed.value() : json();
    }
    const json call_id = data.contains("call_id") ? data["call_id"] : json();
    const std::int64_t stream_id = turn_->stream_id;
    const ToolConfig* tool = context_.agent->find_tool(action.name);
    if (tool == nullptr || !arguments.is_object()) {
      action.arguments = arguments.is_object() ? arguments : json::object();
      action.error = tool == nullptr
                         ? "the agent has no tool named \"" + action.name.substr(0, 64) + "\""
                         : "function_call arguments for \"" + action.name + "\" are not an object";
      send_function_result(stream_id, call_id, action);
      if (auto hook = turn_->hooks.action) hook(action);
      if (turn_ && turn_->stream_id == stream_id) turn_->actions.push_back(std::move(action));
      return;
    }
    ++turn_->tools_running;
    auto self = this->shared_from_this();
    call_tool(io_, http_, *tool, context_.agent->id, context_.session_id, arguments,
              context_.metadata, [self, stream_id, call_id](AgentAction done_action) {
                if (self->state_ == State::ready) {
                  self->send_function_result(stream_id, call_id, done_action);
                }
                if (!self->turn_ || self->turn_->stream_id != stream_id) return;  // turn over
                --self->turn_->tools_running;
                if (auto hook = self->turn_->hooks.action) hook(done_action);
                if (!self->turn_ || self->turn_->stream_id != stream_id) return;
                self->turn_->actions.push_back(std::move(done_action));
                self->maybe_finish_turn();
              });
  }

  void send_function_result(std::int64_t stream_id, const json& call_id,
                            const AgentAction& action) {
    json data = {{"stream_id", stream_id}, {"name", action.name}, {"result", action.result}};
    if (!call_id.is_null()) data["call_id"] = call_id;
    if (!action.error.empty()) data["error"] = action.error;
    send(message("function_result", std::move(data)));
  }

  // ---- turns ---------------------------------------------------------------------------

  void maybe_finish_turn() {
    if (turn_ && turn_->end_of_stream && turn_->tools_running == 0) finish_turn(false);
  }

  // Delivers the turn in flight: what arrived so far, or the fallback when nothing did.
  // `interrupted`: a new turn or the end of the call cut it; the LLM is told so. `heard`
  // (barge-in): what the user heard of it, which is what the transcript keeps.
  void finish_turn(bool interrupted, std::optional<std::string> heard = std::nullopt) {
    Turn turn = std::move(*turn_);
    turn_.reset();
    turn_timer_.cancel();
    if (interrupted && state_ == State::ready) {
      send(message("interrupt", {{"stream_id", turn.stream_id}}));
    }
    AgentReply reply;
    reply.actions = std::move(turn.actions);
    reply.end_call = turn.end_call;
    reply.stream_id = turn.stream_id;
    reply.interrupted = interrupted && heard.has_value();
    if (turn.text.empty() && !heard) {
      reply.text = fallback_text();
      reply.fallback = true;
    } else {
      reply.text = std::move(turn.text);
      const std::string& kept = heard ? *heard : reply.text;
      if (!kept.empty()) transcript_.push_back({{"role", "assistant"}, {"content", kept}});
      last_reply_in_transcript_ = !kept.empty();
    }
    auto done = std::move(turn.done);
    // Through the io loop: finish_turn may run inside respond() or close().
    asio::post(io_, [done = std::move(done), reply = std::move(reply)]() mutable {
      done(std::move(reply));
    });
  }

  void answer_with_fallback(std::function<void(AgentReply)> done) {
    AgentReply reply;
    reply.text = fallback_text();
    reply.fallback = true;
    asio::post(io_, [done = std::move(done), reply = std::move(reply)]() mutable {
      done(std::move(reply));
    });
  }

  std::string fallback_text() const {
    std::string text = fill_template_text(context_.agent->fallback_reply);
    return text.empty() ? std::string("Sorry, I did not understand that.") : text;
  }

  std::string fill_template_text(const std::string& tmpl) const {
    return fill_template(tmpl, variables_).text;
  }

  // ---- writing and closing -------------------------------------------------------------

  void send(json msg) {
    if (state_ != State::ready) return;
    outbox_.push_back(to_json_text(msg));
    if (!writing_) write_next();
  }

  void write_next() {
    if (outbox_.empty() || state_ != State::ready) return after_write();
    writing_ = true;
    auto text = std::make_shared<std::string>(std::move(outbox_.front()));
    outbox_.pop_front();
    ws_.text(true);
    auto self = this->shared_from_this();
    ws_.async_write(asio::buffer(*text), [self, text](beast::error_code ec, std::size_t) {
      self->writing_ = false;
      if (ec) return self->on_link_lost(ec);
      self->write_next();
    });
  }

  void after_write() {
    if (close_requested_ && !writing_) {
      close_requested_ = false;
      close_socket_gracefully();
    }
  }

  void close_socket_gracefully() {
    auto self = this->shared_from_this();
    // The close handshake is bounded by the stream's handshake timeout.
    ws_.async_close(websocket::close_code::normal,
                    [self](beast::error_code) { self->force_close(); });
  }

  void force_close() {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  asio::io_context& io_;
  HttpClient& http_;
  ConversationContext context_;
  WsTarget target_;
  tcp::resolver resolver_;
  Ws ws_;
  asio::steady_timer connect_timer_;
  asio::steady_timer turn_timer_;
  asio::steady_timer greeting_timer_;  // a greeting with no end_of_stream ends with this
  beast::flat_buffer buffer_;
  std::deque<std::string> outbox_;
  bool writing_ = false;
  bool close_requested_ = false;
  State state_ = State::fresh;
  std::function<void(Status)> start_done_;
  json variables_;
  std::string prompt_;
  json transcript_ = json::array();
  std::int64_t last_stream_id_ = 0;
  std::optional<Turn> turn_;
  std::optional<QueuedTurn> queued_;  // a turn asked for while connecting
  bool last_reply_in_transcript_ = false;  // the transcript ends with the last reply
  std::string greeting_;              // stream 0's content so far
  bool greeting_closed_ = false;
  ConversationEvents events_;
  bool listening_ = false;
  std::optional<std::string> pending_greeting_;  // came before anyone listened
  bool pending_end_call_ = false;
};

// What the session holds: dropping it closes the link (whose handlers keep it alive).
class CustomLlmConversation : public Conversation {
 public:
  explicit CustomLlmConversation(std::shared_ptr<Conversation> link) : link_(std::move(link)) {}
  ~CustomLlmConversation() override { link_->close(); }
  void start(std::function<void(Status)> done) override { link_->start(std::move(done)); }
  void respond(std::string user_text, TurnHooks partial,
               std::function<void(AgentReply)> done) override {
    link_->respond(std::move(user_text), std::move(partial), std::move(done));
  }
  void interrupt(std::string heard) override { link_->interrupt(std::move(heard)); }
  void close() override { link_->close(); }
  const std::string& system_prompt() const override { return link_->system_prompt(); }
  void listen(ConversationEvents events) override { link_->listen(std::move(events)); }
  void user_speech(const std::string& text, bool is_final) override {
    link_->user_speech(text, is_final);
  }
  void playback_finished(std::int64_t stream_id) override { link_->playback_finished(stream_id); }

 private:
  std::shared_ptr<Conversation> link_;
};

// A link that cannot start (bad URL): start() reports why, turns get the fallback.
class BrokenLink : public Conversation {
 public:
  BrokenLink(asio::io_context& io, ConversationContext context, Error error)
      : io_(io), context_(std::move(context)), error_(std::move(error)) {
    prompt_ = assemble_system_prompt(*context_.agent, template_variables(context_),
                                     context_.metadata, context_.include_metadata_in_prompt,
                                     context_.extra_prompt);
  }
  void start(std::function<void(Status)> done) override {
    asio::post(io_, [done = std::move(done), e = error_]() mutable { done(Status(e)); });
  }
  void interrupt(std::string) override {}
  void respond(std::string, TurnHooks, std::function<void(AgentReply)> done) override {
    AgentReply reply;
    reply.text = fill_template(context_.agent->fallback_reply, template_variables(context_)).text;
    if (reply.text.empty()) reply.text = "Sorry, I did not understand that.";
    reply.fallback = true;
    asio::post(io_, [done = std::move(done), reply = std::move(reply)]() mutable {
      done(std::move(reply));
    });
  }
  void close() override {}
  const std::string& system_prompt() const override { return prompt_; }

 private:
  asio::io_context& io_;
  ConversationContext context_;
  Error error_;
  std::string prompt_;
};

std::shared_ptr<asio::ssl::context> tls_client_context() {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  beast::error_code ignored;  // no CA store → every peer fails verification: safe
  ctx->set_default_verify_paths(ignored);
  ctx->set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

}  // namespace

std::shared_ptr<Conversation> make_custom_llm_conversation(asio::io_context& io,
                                                           HttpClient& http,
                                                           ConversationContext context) {
  auto target = parse_ws_url(context.agent->custom_llm_websocket);
  if (!target) return std::make_shared<BrokenLink>(io, std::move(context), target.error());
  if (context.llm_limits.max_reply_bytes == 0) context.llm_limits.max_reply_bytes = 1;
  if (target->tls) {
    auto tls = tls_client_context();
    auto link = std::make_shared<LlmLink<TlsWs>>(io, http, std::move(context),
                                                 std::move(*target), io, *tls);
    link->anchor = tls;
    return std::make_shared<CustomLlmConversation>(link);
  }
  auto link = std::make_shared<LlmLink<PlainWs>>(io, http, std::move(context),
                                                 std::move(*target), io);
  return std::make_shared<CustomLlmConversation>(link);
}

}  // namespace parley::host::agent_detail
