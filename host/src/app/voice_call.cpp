#include "voice_call.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "parley/host/ids.hpp"
#include "parley/host/log.hpp"

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
  if (code == "bad_request" || code == "chat_line_id" || code == "bad_agent_config")
    return CloseCode::bad_request;
  return CloseCode::internal_error;
}

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
      speech_service_(speech) {
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
  const std::string id = session_id();
  log_event(LogLevel::info, "call.refused",
            "remote=" + remote_ + " close=" + std::to_string(to_int(code)) + " code=" +
                error_code + (id.empty() ? "" : " session=" + short_id(id)));
  send(OnError{error_code, message});
  if (end_reason_.empty()) end_reason_ = "refused:" + error_code;
  sink_->close(to_int(code), message);
}

// ---- the socket ------------------------------------------------------------------------------

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
  if (!take_tokens(text_bucket_, 1)) {
    metrics_.limited("text_per_session");
    return refuse(CloseCode::rate_limited, "rate_limited",
                  "text: more than " + std::to_string(limits.max_text_messages_per_s) +
                      " messages per second");
  }
  call_->user_text(std::move(typed.text));
}

void VoiceCall::handle_initiate(InitiateMessage initiate) {
  StartRequest& start = initiate.request;
  // Every session opened is held for its resume window: openings per address are limited
  // (the same budget as POST /Session).
  if (const auto wait = sessions_.session_opening_wait(remote_))
    return refuse(CloseCode::rate_limited, "rate_limited",
                  sessions_.session_opening_refusal(wait));
  OpenRequest request;
  request.channel = "voice";
  if (start.agent_id) {
    request.agent_id = *start.agent_id;
  } else {
    // agent_config alone (DESIGN §3): a temporary agent on the agent that owns the key.
    std::vector<std::string> owners;
    for (const auto& agent : sessions_.config().agents)
      if (agent.has_public_key(initiate.public_key)) owners.push_back(agent.id);
    if (owners.empty())
      return refuse(CloseCode::bad_public_key, "bad_public_key",
                    "public_key is not a key of any agent of this host");
    if (owners.size() > 1)
      return refuse(CloseCode::bad_request, "bad_request",
                    "agent.agent_id: the public key belongs to " + std::to_string(owners.size()) +
                        " agents; name the one to use with agent.agent_id");
    request.agent_id = owners.front();
  }
  if (start.agent_config) request.agent_overrides = *start.agent_config;
  request.public_key = initiate.public_key;
  request.origin = origin_;
  request.metadata = start.metadata.is_object() ? start.metadata : json::object();
  request.include_metadata_in_prompt = start.include_metadata_in_prompt.value_or(false);
  request.continue_session_id = start.continue_session_id.value_or("");
  request.rejoin = true;
  asked_continuation_ = start.continue_session_id.has_value();
  asked_id_ = start.continue_session_id.value_or("");
  state_ = State::opening;
  call_ = std::make_shared<AgentCall>(io_, sessions_, metrics_, speech_service_,
                                      std::static_pointer_cast<CallTransport>(shared_from_this()));
  call_->start(std::move(request));
}

void VoiceCall::on_binary(const std::uint8_t* data, std::size_t size) {
  if (state_ == State::closed) return;
  if (auto valid = validate_audio_frame(size); !valid)
    return refuse(close_code_for_error(valid.error()), valid.error().code,
                  valid.error().message);
  const auto& limits = sessions_.config().server.limits;
  if (!take_tokens(audio_bucket_, static_cast<double>(size))) {
    metrics_.limited("audio_per_session");
    return refuse(CloseCode::rate_limited, "rate_limited",
                  "audio: more than " + std::to_string(limits.max_audio_bytes_per_s) +
                      " bytes per second");
  }
  // Audio before onready is accepted and dropped: the Millis SDK starts streaming as soon as
  // the socket opens.
  if (state_ == State::live) call_->user_audio(data, size);
}

void VoiceCall::on_idle_timeout() {
  refuse(CloseCode::idle_timeout, "idle_timeout",
         "nothing was received for " +
             std::to_string(sessions_.config().server.limits.idle_timeout_s) + " s");
}

void VoiceCall::shut_down(const std::string& reason) {
  state_ = State::closed;               // the close below is 1001, not session_ended's 1000
  if (call_) call_->shut_down(reason);  // onsessionended, through session_ended()
  sink_->close(to_int(CloseCode::going_away), "server shutting down");
}

void VoiceCall::on_closed(std::uint16_t code) {
  const bool was_live = state_ == State::live;
  state_ = State::closed;
  if (!call_) return;
  std::string reason = end_reason_;
  if (reason.empty()) {
    // 1005 (no status) is what a browser's ws.close() without a code sends: the Millis SDK's
    // stop() does exactly that.
    reason = (code == 1000 || code == 1001 || code == 1005) ? "client_ended" : "connection_lost";
  }
  if (was_live) {
    log_event(LogLevel::info, "call.end",
              "session=" + short_id(call_->session_id()) + " reason=" + reason +
                  " close=" + std::to_string(code));
  }
  auto call = std::move(call_);
  call->transport_closed(reason);
}

// ---- the call's events, as Millis frames -----------------------------------------------------

void VoiceCall::call_ready(const OpenedSession& s) {
  state_ = State::live;
  OnReady ready;
  ready.session_id = s.record.id;
  if (asked_continuation_) {
    ready.continuation = s.continuation;
    if (s.continuation == Continuation::resumed || s.continuation == Continuation::continued ||
        s.continuation == Continuation::expired)
      ready.continued_from = asked_id_;
  }
  send(ready);
  log_event(LogLevel::info, "call.start",
            "session=" + short_id(s.record.id) + " agent=" + s.record.agent_id +
                " remote=" + remote_ +
                (s.continuation ? " continuation=" + std::string(to_string(*s.continuation))
                                : std::string()));
}

void VoiceCall::call_refused(const Error& error) {
  refuse(close_code_for_service_error(error.code), error.code, error.message);
}

void VoiceCall::transcript(std::string_view text, bool final) {
  send(OnTranscript{std::string(text), final});
}

void VoiceCall::response_text(std::string_view text, bool final) {
  if (text.empty()) return;
  send(OnResponseText{std::string(text), final});
}

void VoiceCall::start_answering() { send(StartAnswering{}); }

void VoiceCall::audio(std::string frame) {
  if (sink_->is_open()) sink_->send_binary(std::move(frame));
}

void VoiceCall::clear() {
  // Agent frames still in the socket's send queue would play after `clear`: dropped first.
  if (sink_) sink_->drop_queued_audio();
  send(Clear{});
}

// Millis's pause/unpause: the SDK holds its playback queue between them.
void VoiceCall::pause() { send(Pause{}); }
void VoiceCall::unpause() { send(Unpause{}); }

void VoiceCall::function_call(const AgentAction& action) {
  // Millis's onfunction (its docs: text empty, payload {name, params}; the SDK hands both to
  // the app), then our ai_action with the result.
  send(GenericServerMessage{"onfunction", json(""),
                            json{{"name", action.name}, {"params", action.arguments}}});
  json data = {{"name", action.name}, {"arguments", action.arguments}, {"result", action.result}};
  if (!action.error.empty()) data["error"] = action.error;
  send(AiAction{std::move(data), json::object()});
}

void VoiceCall::session_ended(const std::string& reason) {
  send(OnSessionEnded{reason});
  end_reason_ = reason;
  if (state_ == State::live) sink_->close(to_int(CloseCode::normal), reason);
}

void VoiceCall::call_failed(const Error& error) {
  refuse(CloseCode::internal_error, error.code, error.message);
}

}  // namespace parley::host
