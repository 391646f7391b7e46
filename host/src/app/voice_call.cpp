#include "voice_call.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "parley/host/ids.hpp"
#include "parley/host/log.hpp"
#include "parley/templates.hpp"
#include "../speech/speech_channel.hpp"

namespace parley::host {
namespace {

std::int64_t steady_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

// The DESIGN §3 close code for an error of the session service.
CloseCode close_code_for_service_error(const std::string& code) {
  if (code == "unknown_agent") return CloseCode::unknown_agent;
  if (code == "bad_public_key" || code.rfind("token_", 0) == 0) return CloseCode::bad_public_key;
  if (code == "origin_not_allowed") return CloseCode::origin_not_allowed;
  if (code == "bad_request" || code == "chat_line_id") return CloseCode::bad_request;
  return CloseCode::internal_error;
}

constexpr const char* no_speech_notice =
    "I can read typed messages, but I cannot hear you yet: speech recognition is not enabled "
    "on this host. Please type your message.";

}  // namespace

VoiceCall::VoiceCall(boost::asio::io_context& io, SessionService& sessions, Metrics& metrics,
                     std::shared_ptr<SocketSink> sink, std::optional<std::string> origin,
                     std::string remote, SpeechService* speech)
    : io_(io),
      sessions_(sessions),
      metrics_(metrics),
      sink_(std::move(sink)),
      origin_(std::move(origin)),
      remote_(std::move(remote)),
      speech_service_(speech),
      idle_timer_(io),
      duration_timer_(io) {
  const auto& limits = sessions_.config().server.limits;
  audio_bucket_ = limits.max_audio_bytes_per_s;
  text_bucket_ = limits.max_text_messages_per_s;
  last_refill_us_ = steady_us();
}

VoiceCall::~VoiceCall() = default;

bool VoiceCall::take_tokens(double& bucket, double cost) {
  // Both buckets refill from one clock reading, at their rate per second, up to one second's
  // worth: a client may burst for a second, not longer.
  const std::int64_t now = steady_us();
  const double seconds = static_cast<double>(now - last_refill_us_) / 1e6;
  last_refill_us_ = now;
  const auto& limits = sessions_.config().server.limits;
  const double audio_rate = limits.max_audio_bytes_per_s;
  const double text_rate = limits.max_text_messages_per_s;
  audio_bucket_ = std::min(audio_rate, audio_bucket_ + seconds * audio_rate);
  text_bucket_ = std::min(text_rate, text_bucket_ + seconds * text_rate);
  if (bucket < cost) return false;
  bucket -= cost;
  return true;
}

void VoiceCall::send(const ServerMessage& message) {
  if (sink_->is_open()) sink_->send_text(build_server_message(message));
}

void VoiceCall::refuse(CloseCode code, const std::string& error_code, const std::string& message) {
  if (state_ == State::closed || !sink_->is_open()) return;
  metrics_.error(error_code);
  log_event(LogLevel::info, "call.refused",
            "remote=" + remote_ + " close=" + std::to_string(to_int(code)) + " code=" +
                error_code + (session_id_.empty() ? "" : " session=" + short_id(session_id_)));
  send(OnError{error_code, message});
  if (end_reason_.empty()) end_reason_ = "refused:" + error_code;
  sink_->close(to_int(code), message);
}

void VoiceCall::on_text(std::string_view text) {
  if (state_ == State::closed) return;
  auto parsed = parse_client_message(text);
  if (!parsed) {
    const Error& e = parsed.error();
    return refuse(close_code_for_error(e), e.code, e.message);
  }
  ClientMessage& message = *parsed;
  if (auto* ping = std::get_if<PingMessage>(&message)) return send(Pong{ping->data});
  if (auto* initiate = std::get_if<InitiateMessage>(&message)) {
    if (state_ != State::awaiting_initiate)
      return refuse(CloseCode::bad_request, "bad_request",
                    "initiate: the call was already initiated on this socket");
    return handle_initiate(std::move(*initiate));
  }
  auto& typed = std::get<TextMessage>(message);
  if (state_ != State::live)
    return refuse(CloseCode::bad_request, "bad_request",
                  "text: send initiate and wait for onready before sending text");
  const auto& limits = sessions_.config().server.limits;
  if (!take_tokens(text_bucket_, 1))
    return refuse(CloseCode::rate_limited, "rate_limited",
                  "text: more than " + std::to_string(limits.max_text_messages_per_s) +
                      " messages per second");
  handle_text(std::move(typed.text));
}

void VoiceCall::handle_initiate(InitiateMessage initiate) {
  StartRequest& start = initiate.request;
  if (start.agent_config)
    return refuse(CloseCode::bad_request, "bad_request",
                  "agent.agent_config: this host serves configured agents only; send "
                  "agent.agent_id");
  OpenRequest request;
  request.channel = "voice";
  request.agent_id = start.agent_id.value_or("");
  request.public_key = initiate.public_key;
  request.origin = origin_;
  request.metadata = start.metadata.is_object() ? start.metadata : json::object();
  request.include_metadata_in_prompt = start.include_metadata_in_prompt.value_or(false);
  request.continue_session_id = start.continue_session_id.value_or("");
  request.resume_in_place = true;
  const bool asked_continuation = start.continue_session_id.has_value();
  state_ = State::opening;
  std::weak_ptr<VoiceCall> weak = shared_from_this();
  sessions_.open(std::move(request), [weak, asked_continuation,
                                      asked_id = start.continue_session_id.value_or("")](
                                         Result<OpenedSession> opened) {
    auto self = weak.lock();
    if (!self || self->state_ == State::closed) {
      // The socket went while the session opened: the session ends at once.
      if (opened && self) self->sessions_.end(opened->record.id, "client_closed");
      return;
    }
    if (!opened) {
      const Error& e = opened.error();
      return self->refuse(close_code_for_service_error(e.code), e.code, e.message);
    }
    OpenedSession& s = *opened;
    self->session_id_ = s.record.id;
    self->agent_id_ = s.record.agent_id;
    self->agent_ = self->sessions_.config().find_agent(s.record.agent_id);
    self->record_ = s.record;
    self->state_ = State::live;
    self->sessions_.attach_call(self->session_id_);
    ++self->metrics_.sessions_open;

    OnReady ready;
    ready.session_id = s.record.id;
    if (asked_continuation) {
      ready.continuation = s.continuation;
      if (s.continuation == Continuation::resumed || s.continuation == Continuation::expired)
        ready.continued_from = asked_id;
    }
    self->send(ready);
    log_event(LogLevel::info, "call.start",
              "session=" + short_id(s.record.id) + " agent=" + s.record.agent_id +
                  " remote=" + self->remote_ +
                  (s.continuation ? " continuation=" + std::string(to_string(*s.continuation))
                                  : std::string()));
    self->start_speech();
    const bool speak_first = self->agent_ && !self->agent_->flow.user_start_first;
    if (speak_first && !s.greeting.empty()) {
      std::string line_id;
      if (!s.record.opted_out) {
        ChatLine line;
        line.timestamp_ms = now_epoch_ms();
        line.inbound = false;
        line.text = s.greeting;
        auto stored = self->sessions_.store().append_line(s.record.id, std::move(line));
        if (!stored)
          return self->refuse(CloseCode::internal_error, "db_error", stored.error().message);
        line_id = stored->line_id;
      }
      self->send(OnResponseText{s.greeting, true});
      self->speak(s.greeting, line_id);
    }
    self->arm_timers();
  });
}

void VoiceCall::handle_text(std::string text) {
  note_activity();
  std::weak_ptr<VoiceCall> weak = shared_from_this();
  send(StartAnswering{});
  sessions_.turn(
      record_, std::move(text),
      [weak](std::string_view piece) {
        auto self = weak.lock();
        if (self && self->state_ == State::live && !piece.empty())
          self->send(OnResponseText{std::string(piece), false});
      },
      [weak](Result<TurnResult> result) {
        auto self = weak.lock();
        if (!self || self->state_ != State::live) return;
        if (!result)
          return self->refuse(CloseCode::internal_error, result.error().code,
                              result.error().message);
        for (const AgentAction& action : result->reply.actions) {
          json data = {{"name", action.name}, {"arguments", action.arguments},
                       {"result", action.result}};
          if (!action.error.empty()) data["error"] = action.error;
          self->send(AiAction{std::move(data), json::object()});
        }
        self->send(OnResponseText{result->reply.text, true});
        self->speak(result->reply.text, result->agent_line.line_id);
        if (result->reply.end_call) return self->end_call("agent_ended", "");
        self->note_activity();
      });
}

void VoiceCall::on_binary(const std::uint8_t* data, std::size_t size) {
  if (state_ == State::closed) return;
  if (auto valid = validate_audio_frame(size); !valid)
    return refuse(close_code_for_error(valid.error()), valid.error().code,
                  valid.error().message);
  const auto& limits = sessions_.config().server.limits;
  if (!take_tokens(audio_bucket_, static_cast<double>(size)))
    return refuse(CloseCode::rate_limited, "rate_limited",
                  "audio: more than " + std::to_string(limits.max_audio_bytes_per_s) +
                      " bytes per second");
  // Audio before onready is accepted and dropped: the Millis SDK starts streaming as soon as
  // the socket opens. A call that cannot hear says so, once.
  if (state_ != State::live) return;
  if (speech_ && speech_->hears()) return speech_->on_audio(data, size);
  if (!told_no_speech_) {
    told_no_speech_ = true;
    std::string notice = no_speech_notice;
    if (speech_service_ && speech_service_->config().enabled && agent_)
      notice = "I can read typed messages, but I cannot hear you: " +
               speech_service_->hearing_problem(*agent_) + ". Please type your message.";
    send(OnResponseText{notice, true});
    speak(notice, "");
  }
}

void VoiceCall::start_speech() {
  if (!speech_service_ || !agent_ || !speech_service_->config().enabled) return;
  SpeechChannel::Events events;
  std::weak_ptr<VoiceCall> weak = shared_from_this();
  events.user_turn = [weak](std::string text) {
    auto self = weak.lock();
    if (self && log_enabled(LogLevel::debug))
      log_event(LogLevel::debug, "call.voice_turn", "session=" + short_id(self->session_id_));
    if (self && self->state_ == State::live && !self->ending_) self->handle_text(std::move(text));
  };
  events.interrupted = [weak](const std::string& line_id) {
    auto self = weak.lock();
    if (!self || !self->agent_) return;
    (void)self->sessions_.store().mark_interrupted(line_id, self->agent_->flow.keep_interruption_message);
  };
  events.activity = [weak] {
    if (auto self = weak.lock()) self->note_activity();
  };
  speech_ = std::make_shared<SpeechChannel>(*speech_service_, *agent_, sink_, std::move(events));
}

void VoiceCall::speak(const std::string& text, const std::string& line_id) {
  if (speech_ && speech_->speaks()) speech_->say(text, {line_id, true, {}});
}

void VoiceCall::on_idle_timeout() {
  refuse(CloseCode::idle_timeout, "idle_timeout",
         "nothing was received for " +
             std::to_string(sessions_.config().server.limits.idle_timeout_s) + " s");
}

void VoiceCall::arm_timers() {
  if (!agent_) return;
  std::weak_ptr<VoiceCall> weak = shared_from_this();
  if (agent_->session_timeout.max_duration_s > 0) {
    duration_timer_.expires_after(std::chrono::seconds(agent_->session_timeout.max_duration_s));
    duration_timer_.async_wait([weak](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->end_call("max_duration", self->agent_->session_timeout.message);
    });
  }
  note_activity();
}

void VoiceCall::note_activity() {
  if (!agent_ || agent_->session_timeout.max_idle_s == 0 || state_ != State::live) return;
  idle_timer_.expires_after(std::chrono::seconds(agent_->session_timeout.max_idle_s));
  std::weak_ptr<VoiceCall> weak = shared_from_this();
  idle_timer_.async_wait([weak](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    self->end_call("max_idle", self->agent_->session_timeout.message);
  });
}

void VoiceCall::end_call(const std::string& reason, const std::string& spoken) {
  if (state_ != State::live || ending_) return;
  std::string text, line_id;
  if (!spoken.empty()) {
    text = fill_template(spoken, record_.variables).text;
    if (!record_.opted_out) {
      ChatLine line;
      line.timestamp_ms = now_epoch_ms();
      line.inbound = false;
      line.text = text;
      if (auto stored = sessions_.store().append_line(session_id_, std::move(line)))
        line_id = stored->line_id;
    }
    send(OnResponseText{text, true});
  }
  if (speech_ && speech_->speaks()) {
    // The last words are spoken (not interruptible) before the call ends. A timeout cuts what
    // was being said; an agent that ends the call lets its reply finish.
    ending_ = true;
    if (reason != "agent_ended") speech_->cut();
    std::weak_ptr<VoiceCall> weak = shared_from_this();
    speech_->say(text.empty() ? std::string() : text,
                 {line_id, false, [weak, reason](bool) {
                    if (auto self = weak.lock()) self->finish_end(reason);
                  }});
    return;
  }
  finish_end(reason);
}

void VoiceCall::finish_end(const std::string& reason) {
  if (state_ != State::live) return;
  send(OnSessionEnded{reason});
  end_reason_ = reason;
  sink_->close(to_int(CloseCode::normal), reason);
}

void VoiceCall::shut_down(const std::string& reason) {
  if (speech_) speech_->stop();
  if (state_ == State::live) {
    send(OnSessionEnded{reason});
    end_reason_ = reason;
    sessions_.end(session_id_, reason);
    ended_ = true;
  }
  sink_->close(to_int(CloseCode::going_away), "server shutting down");
}

void VoiceCall::on_closed(std::uint16_t code) {
  const bool was_live = state_ == State::live;
  state_ = State::closed;
  if (speech_) speech_->stop();
  idle_timer_.cancel();
  duration_timer_.cancel();
  if (!was_live) return;
  --metrics_.sessions_open;
  sessions_.detach_call(session_id_);
  if (ended_) return;
  ended_ = true;
  std::string reason = end_reason_;
  if (reason.empty())
    // 1005 (no status) is what a browser's ws.close() without a code sends: the Millis SDK's
    // stop() does exactly that.
    reason = (code == 1000 || code == 1001 || code == 1005) ? "client_ended" : "connection_lost";
  log_event(LogLevel::info, "call.end",
            "session=" + short_id(session_id_) + " reason=" + reason +
                " close=" + std::to_string(code));
  sessions_.end(session_id_, reason);
}

}  // namespace parley::host
