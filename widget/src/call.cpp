#include "parley/call.hpp"

#include <iterator>
#include <utility>

namespace parley {

std::string_view to_string(ConnectionState s) noexcept {
  switch (s) {
    case ConnectionState::idle: return "idle";
    case ConnectionState::connecting: return "connecting";
    case ConnectionState::open: return "open";
    case ConnectionState::ready: return "ready";
    case ConnectionState::closing: return "closing";
    case ConnectionState::closed: return "closed";
    case ConnectionState::failed: return "failed";
  }
  return "unknown";
}

std::string_view to_string(AgentState s) noexcept {
  switch (s) {
    case AgentState::idle: return "idle";
    case AgentState::prepare_answer: return "prepare_answer";
    case AgentState::answer: return "answer";
    case AgentState::pause: return "pause";
  }
  return "unknown";
}

std::string_view event_name(const CallEvent& event) noexcept {
  // In the order of the CallEvent alternatives.
  static constexpr std::string_view names[] = {
      "onopen",    "onready",   "onsessionended", "onaudio",   "onresponsetext",
      "ontranscript", "onagentstate", "onlatency", "onrtt",   "ai_action",
      "playback",  "onclose",   "onerror",        "onmessage"};
  static_assert(std::size(names) == std::variant_size_v<CallEvent>);
  return names[event.index()];
}

Call::Call(CallConfig config) : config_(std::move(config)) {}

Status Call::start(StartRequest request, std::int64_t now) {
  (void)now;
  if (connection_ == ConnectionState::connecting || socket_open() ||
      connection_ == ConnectionState::closing) {
    return make_error("call_busy", std::string("cannot start: a call is already ") +
                                       std::string(to_string(connection_)));
  }
  // A StartRequest may have been put together by hand: check it by the same rules as one
  // that came through normalize_start, so a bad one never reaches the wire.
  if (auto checked = parse_start_payload(start_payload_json(request)); !checked) {
    return std::move(checked).error();
  }
  // A fresh call: nothing of the previous one carries over (as the SDK's reset()).
  request_ = std::move(request);
  agent_ = AgentState::idle;
  muted_ = false;
  ready_payload_.reset();
  sent_first_audio_ = false;
  answering_since_.reset();
  last_ping_at_ = 0;
  last_latency_ms_.reset();
  last_rtt_ms_.reset();
  close_code_.reset();
  connection_ = ConnectionState::connecting;
  return ok_status();
}

void Call::on_open(std::int64_t now) {
  // After stop() while connecting, the application closes the socket as it opens.
  if (connection_ != ConnectionState::connecting) return;
  connection_ = ConnectionState::open;
  last_ping_at_ = now;
  raise(OpenEvent{});
  send_text_frame(make_initiate(request_, config_.public_key));
}

void Call::on_text(std::string_view text, std::int64_t now) {
  if (!receiving()) return;
  auto message = parse_server_message(text);
  if (!message) {
    raise(ErrorEvent{ErrorEvent::Source::protocol, std::move(message).error()});
    return;
  }
  handle(*message, now);
}

void Call::handle(const ServerMessage& message, std::int64_t now) {
  if (const auto* ready = std::get_if<OnReady>(&message)) {
    handle_ready(*ready);
  } else if (const auto* t = std::get_if<OnTranscript>(&message)) {
    raise(TranscriptEvent{t->text, t->is_final});
  } else if (const auto* r = std::get_if<OnResponseText>(&message)) {
    raise(ResponseTextEvent{r->text, r->is_final});
  } else if (std::holds_alternative<StartAnswering>(message)) {
    answering_since_ = now;
    set_agent_state(AgentState::prepare_answer);
  } else if (std::holds_alternative<Clear>(message)) {
    answering_since_.reset();  // barge-in: that answer will not come
    raise(PlaybackEvent{PlaybackCommand::clear});
    set_agent_state(AgentState::idle);
  } else if (std::holds_alternative<Pause>(message)) {
    raise(PlaybackEvent{PlaybackCommand::pause});
    set_agent_state(AgentState::pause);
  } else if (std::holds_alternative<Unpause>(message)) {
    raise(PlaybackEvent{PlaybackCommand::unpause});
    if (agent_ == AgentState::pause) set_agent_state(AgentState::answer);
  } else if (const auto* action = std::get_if<AiAction>(&message)) {
    raise(AiActionEvent{action->data, action->payload});
  } else if (const auto* ended = std::get_if<OnSessionEnded>(&message)) {
    raise(SessionEndedEvent{ended->reason});
  } else if (const auto* pong = std::get_if<Pong>(&message)) {
    // A pong whose data we cannot read, or from the future, says nothing about the RTT.
    const auto sent = ping_epoch_ms(pong->data);
    if (sent && *sent <= now) {
      last_rtt_ms_ = now - *sent;
      raise(RttEvent{*last_rtt_ms_});
    }
  } else if (const auto* error = std::get_if<OnError>(&message)) {
    raise(ErrorEvent{ErrorEvent::Source::server, make_error(error->code, error->message)});
  } else if (const auto* other = std::get_if<GenericServerMessage>(&message)) {
    raise(MessageEvent{other->method, other->data, other->payload});
  }
}

void Call::handle_ready(const OnReady& ready) {
  if (ready_payload_) {
    raise(ErrorEvent{ErrorEvent::Source::protocol,
                     make_error("unexpected_message",
                                "server sent onready twice; the second one is ignored")});
    return;
  }
  ready_payload_ = ready;
  set_agent_state(AgentState::idle);
  maybe_become_ready();
}

void Call::maybe_become_ready() {
  if (connection_ != ConnectionState::open || !ready_payload_ || !sent_first_audio_) return;
  connection_ = ConnectionState::ready;
  raise(ReadyEvent{ready_payload_->session_id, ready_payload_->continued_from,
                   ready_payload_->continuation});
}

void Call::on_binary(const std::uint8_t* bytes, std::size_t size, std::int64_t now) {
  if (!receiving()) return;
  if (auto s = validate_audio_frame(size); !s) {
    Error error = std::move(s).error();
    error.message = "agent " + error.message;
    raise(ErrorEvent{ErrorEvent::Source::protocol, std::move(error)});
    return;
  }
  if (answering_since_) {
    last_latency_ms_ = now - *answering_since_;
    answering_since_.reset();
    raise(LatencyEvent{*last_latency_ms_});
  }
  // While paused the audio is queued, not played: the agent stays paused.
  if (agent_ == AgentState::idle || agent_ == AgentState::prepare_answer) {
    set_agent_state(AgentState::answer);
  }
  raise(AudioEvent{std::vector<std::uint8_t>(bytes, bytes + size)});
}

void Call::on_socket_error(std::string_view what, std::int64_t now) {
  (void)now;
  if (connection_ == ConnectionState::idle) return;
  raise(ErrorEvent{ErrorEvent::Source::socket,
                   make_error("socket_error", "WebSocket error: " + std::string(what))});
}

void Call::on_close(int code, std::string_view reason, std::int64_t now) {
  (void)now;
  if (connection_ == ConnectionState::idle || connection_ == ConnectionState::closed ||
      connection_ == ConnectionState::failed) {
    return;
  }
  const bool asked = connection_ == ConnectionState::closing;
  const bool failed = connection_ == ConnectionState::connecting ||
                      is_refusal_close_code(code) ||
                      (!asked && code == 1006);  // lost, not closed
  connection_ = failed ? ConnectionState::failed : ConnectionState::closed;
  close_code_ = code;
  answering_since_.reset();
  raise(CloseEvent{code, std::string(reason), failed});
  set_agent_state(AgentState::idle);
}

Status Call::on_audio_captured(const std::uint8_t* pcm, std::size_t size, std::int64_t now) {
  (void)now;
  if (auto s = validate_audio_frame(size); !s) {
    Error error = std::move(s).error();
    error.message = "microphone " + error.message;
    return error;
  }
  if (!socket_open()) return ok_status();  // nothing to send it on yet: dropped
  Outgoing frame;
  frame.kind = Outgoing::Kind::binary;
  if (muted_) frame.audio.assign(size, 0);  // silence keeps the stream's timing
  else frame.audio.assign(pcm, pcm + size);
  outgoing_.push_back(std::move(frame));
  sent_first_audio_ = true;
  maybe_become_ready();
  return ok_status();
}

Status Call::send_text(std::string_view text, std::int64_t now) {
  (void)now;
  if (!socket_open()) {
    return make_error("not_connected", std::string("cannot send text: the call is ") +
                                           std::string(to_string(connection_)));
  }
  if (text.empty()) return make_error("bad_value", "text must not be empty");
  if (!is_valid_utf8(text)) return make_error("bad_value", "text is not valid UTF-8");
  send_text_frame(build_text(text));
  return ok_status();
}

void Call::on_playback_drained(std::int64_t now) {
  (void)now;
  if (agent_ == AgentState::answer) set_agent_state(AgentState::idle);
}

void Call::tick(std::int64_t now) {
  if (!socket_open() || config_.ping_interval_ms <= 0) return;
  if (now - last_ping_at_ < config_.ping_interval_ms) return;
  last_ping_at_ = now;
  send_text_frame(build_ping(now));
}

void Call::stop(std::int64_t now) {
  (void)now;
  if (connection_ != ConnectionState::connecting && !socket_open()) return;
  connection_ = ConnectionState::closing;
  Outgoing close;
  close.kind = Outgoing::Kind::close;
  close.close_code = to_int(CloseCode::normal);
  close.close_reason = "client stopped the call";
  outgoing_.push_back(std::move(close));
}

std::vector<Outgoing> Call::take_outgoing() { return std::exchange(outgoing_, {}); }
std::vector<CallEvent> Call::take_events() { return std::exchange(events_, {}); }

CallSnapshot Call::snapshot() const {
  CallSnapshot s;
  s.connection = connection_;
  s.agent = agent_;
  s.muted = muted_;
  if (ready_payload_) {
    s.session_id = ready_payload_->session_id;
    s.continued_from = ready_payload_->continued_from;
    s.continuation = ready_payload_->continuation;
  }
  s.last_latency_ms = last_latency_ms_;
  s.last_rtt_ms = last_rtt_ms_;
  s.close_code = close_code_;
  return s;
}

void Call::set_agent_state(AgentState state) {
  if (agent_ == state) return;
  agent_ = state;
  raise(AgentStateEvent{state});
}

void Call::send_text_frame(std::string text) {
  Outgoing frame;
  frame.kind = Outgoing::Kind::text;
  frame.text = std::move(text);
  outgoing_.push_back(std::move(frame));
}

}  // namespace parley
