#include "client_core.hpp"

#include <utility>

#include "parley/audio/meter.hpp"
#include "parley/start_request.hpp"

namespace parley::sdk {
namespace {

Error config_error(const std::string& what) { return make_error("config_invalid", what); }

// A JSON argument as the JS passed it: "" and "null" are absent.
Result<json> argument(std::string_view text, const char* name) {
  if (text.empty()) return json(nullptr);
  auto parsed = parse_json(text, name, 16);
  if (!parsed) return std::move(parsed).error();
  return std::move(*parsed);
}

bool read_int(const json& object, const char* key, std::int64_t& out, std::string& error) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return true;
  if (!it->is_number()) {
    error = std::string(key) + " must be a number";
    return false;
  }
  const double v = it->get<double>();
  if (!(v >= -9.0e15 && v <= 9.0e15)) {
    error = std::string(key) + " is out of range";
    return false;
  }
  out = static_cast<std::int64_t>(v);
  return true;
}

json ready_payload(const ReadyEvent& ready) {
  json payload = {{"session_id", ready.session_id}};
  if (ready.continued_from) payload["continued_from"] = *ready.continued_from;
  if (ready.continuation) payload["continuation"] = std::string(to_string(*ready.continuation));
  return payload;
}

const char* playback_command_name(PlaybackCommand c) {
  switch (c) {
    case PlaybackCommand::clear: return "clear";
    case PlaybackCommand::pause: return "pause";
    case PlaybackCommand::unpause: return "unpause";
  }
  return "clear";
}

}  // namespace

Result<ClientCoreConfig> parse_client_config(std::string_view json_text) {
  auto parsed = parse_json(json_text, "client config", 8);
  if (!parsed) return config_error(parsed.error().message);
  const json& c = *parsed;
  if (!c.is_object()) return config_error("the client config must be an object");
  ClientCoreConfig out;
  auto key = c.find("publicKey");
  if (key == c.end() || !key->is_string() || key->get_ref<const std::string&>().empty())
    return config_error("publicKey must be a non-empty string");
  out.public_key = key->get<std::string>();
  if (auto it = c.find("integrationId"); it != c.end() && !it->is_null()) {
    if (!it->is_string() || !is_valid_integration_id(it->get_ref<const std::string&>()))
      return config_error("integrationId must be a string of 0..128 printable ASCII bytes");
    out.integration_id = it->get<std::string>();
  }
  std::string error;
  if (!read_int(c, "pingIntervalMs", out.ping_interval_ms, error)) return config_error(error);
  if (out.ping_interval_ms < 0) return config_error("pingIntervalMs must be >= 0");
  if (auto it = c.find("reconnect"); it != c.end() && !it->is_null()) {
    if (!it->is_object()) return config_error("reconnect must be an object");
    const json& r = *it;
    ReconnectConfig& rc = out.reconnect;
    std::int64_t attempts = rc.max_attempts;
    if (!read_int(r, "initialDelayMs", rc.initial_delay_ms, error) ||
        !read_int(r, "maxDelayMs", rc.max_delay_ms, error) ||
        !read_int(r, "maxAttempts", attempts, error) ||
        !read_int(r, "maxOutageMs", rc.max_outage_ms, error))
      return config_error("reconnect." + error);
    if (attempts < 0 || attempts > 100) return config_error("reconnect.maxAttempts must be 0..100");
    rc.max_attempts = static_cast<int>(attempts);
    for (const char* name : {"multiplier", "jitter"}) {
      auto f = r.find(name);
      if (f == r.end() || f->is_null()) continue;
      if (!f->is_number()) return config_error(std::string("reconnect.") + name + " must be a number");
      (std::string_view(name) == "multiplier" ? rc.multiplier : rc.jitter) = f->get<double>();
    }
    if (auto valid = validate_reconnect_config(rc); !valid) return std::move(valid).error();
  }
  return out;
}

ClientCore::ClientCore(KeyValueStore& kv, ClientCoreConfig config)
    : kv_(kv),
      store_(kv),
      config_(std::move(config)),
      call_(CallConfig{config_.public_key, config_.ping_interval_ms}),
      reconnect_(config_.reconnect),
      capture_in_(max_block + 1, 0.0f),
      render_out_(max_block, 0.0f),
      incoming_(ProtocolLimits::max_audio_frame_bytes, 0) {
  meters_.fill(0.0f);
  meters_[meter_in_rms] = meters_[meter_in_peak] = audio::kSilenceDbfs;
  meters_[meter_out_rms] = meters_[meter_out_peak] = audio::kSilenceDbfs;
}

// ---- the call ------------------------------------------------------------------------

Result<StartRequest> parse_start_arguments(std::string_view first_json, std::string_view metadata_json,
                                           std::string_view include_json) {
  auto first = argument(first_json, "start payload");
  if (!first) return std::move(first).error();
  auto metadata = argument(metadata_json, "metadata");
  if (!metadata) return std::move(metadata).error();
  auto include = argument(include_json, "includeMetadataInPrompt");
  if (!include) return std::move(include).error();
  return normalize_start(*first, *metadata, *include);
}

Status ClientCore::start(std::string_view first_json, std::string_view metadata_json,
                         std::string_view include_json, std::int64_t now) {
  auto request = parse_start_arguments(first_json, metadata_json, include_json);
  if (!request) return std::move(request).error();
  if (auto started = call_.start(*request, now); !started) return started;
  request_ = std::move(*request);
  session_id_ = request_->continue_session_id.value_or("");
  stop_asked_ = false;
  was_ready_ = false;
  reconnecting_ = false;
  wants_socket_ = true;
  server_error_.reset();
  reconnect_.connected();
  set_muted(false);
  return ok_status();
}

bool ClientCore::reconnect(std::int64_t now) {
  if (!request_ || stop_asked_ || !reconnecting_) return false;
  StartRequest again = *request_;
  if (!session_id_.empty()) again.continue_session_id = session_id_;
  if (!call_.start(std::move(again), now).ok()) return false;
  if (muted_) call_.mute();  // a reconnect keeps the person's mute
  server_error_.reset();
  wants_socket_ = true;
  return true;
}

bool ClientCore::wants_socket() const noexcept { return wants_socket_; }

void ClientCore::on_open(std::int64_t now) {
  wants_socket_ = false;
  call_.on_open(now);
  pump(now);
}

void ClientCore::on_text(std::string_view text, std::int64_t now) {
  call_.on_text(text, now);
  pump(now);
}

void ClientCore::on_binary(std::size_t size, std::int64_t now) {
  if (size > incoming_.size()) size = incoming_.size() + 1;  // refused by the Call as too large
  call_.on_binary(incoming_.data(), size, now);
  pump(now);
}

void ClientCore::on_close(int code, std::string_view reason, std::int64_t now, double random01,
                          bool online) {
  wants_socket_ = false;
  pending_random_ = random01;
  pending_online_ = online;
  call_.on_close(code, reason, now);
  pump(now);
}

void ClientCore::on_socket_error(std::string_view what, std::int64_t now) {
  call_.on_socket_error(what, now);
  pump(now);
}

Status ClientCore::send_text(std::string_view text, std::int64_t now) {
  auto sent = call_.send_text(text, now);
  if (sent) touch(now, false);
  return sent;
}

void ClientCore::set_muted(bool muted) {
  muted_ = muted;
  if (muted) call_.mute();
  else call_.unmute();
  if (capture_) capture_->set_muted(muted);
}

void ClientCore::tick(std::int64_t now) {
  call_.tick(now);
  pump(now);
}

void ClientCore::stop(std::int64_t now) {
  stop_asked_ = true;
  wants_socket_ = false;
  const bool waiting = reconnecting_;
  reconnecting_ = false;
  const ConnectionState c = call_.connection_state();
  call_.stop(now);
  pump(now);
  // Stopped between a loss and the next attempt: no socket is left to close, so the close
  // that the application waits for is reported here.
  if (waiting && (c == ConnectionState::closed || c == ConnectionState::failed)) {
    emit("onclose", json::array({json{{"code", 1000}, {"reason", "client stopped the call"}}}));
  }
  touch(now, true);
}

// ---- audio -----------------------------------------------------------------------------

Status ClientCore::audio_start(int context_rate) {
  auto capture = audio::CaptureChain::create(context_rate);
  if (!capture) return std::move(capture).error();
  auto playback = audio::PlaybackChain::create(context_rate);
  if (!playback) return std::move(playback).error();
  audio::VadConfig vad_config;
  vad_config.sample_rate = context_rate;
  auto vad = audio::Vad::create(vad_config);
  if (!vad) return std::move(vad).error();
  capture_.emplace(std::move(*capture));
  playback_.emplace(std::move(*playback));
  vad_.emplace(std::move(*vad));
  capture_->set_muted(muted_);
  return ok_status();
}

void ClientCore::audio_stop() {
  capture_.reset();
  playback_.reset();
  vad_.reset();
  meters_[meter_speaking] = 0.0f;
  meters_[meter_in_rms] = meters_[meter_in_peak] = audio::kSilenceDbfs;
  meters_[meter_out_rms] = meters_[meter_out_peak] = audio::kSilenceDbfs;
  meters_[meter_buffered_ms] = 0.0f;
}

std::size_t ClientCore::capture(std::size_t count, std::int64_t now) {
  if (!capture_ || count == 0) return 0;
  if (count > max_block) count = max_block;
  const float* in = capture_in_.data();
  vad_->push(in, count, [](const audio::VadEvent&) {});
  meters_[meter_speaking] = vad_->speaking() ? 1.0f : 0.0f;
  const audio::Level level = muted_ ? audio::Level{} : audio::measure_level(in, count);
  meters_[meter_in_rms] = level.rms_dbfs;
  meters_[meter_in_peak] = level.peak_dbfs;
  const std::size_t frames = capture_->push(in, count, [&](const audio::FrameView& frame) {
    const ConnectionState c = call_.connection_state();
    if (c == ConnectionState::open || c == ConnectionState::ready) {
      (void)call_.on_audio_captured(frame.bytes, 2 * audio::kFrameSamples, now);
      meters_[meter_frames_sent] += 1.0f;
    } else if (c != ConnectionState::idle) {
      meters_[meter_frames_dropped] += 1.0f;  // an outage (or the socket still opening)
    }
  });
  pump(now);
  return frames;
}

int ClientCore::render(std::size_t count) {
  if (count > max_block) count = max_block;
  count -= count % audio::kRenderQuantum;
  if (!playback_) {
    for (std::size_t i = 0; i < count; ++i) render_out_[i] = 0.0f;
    return 0;
  }
  bool drained = false;
  for (std::size_t at = 0; at < count; at += audio::kRenderQuantum)
    drained = playback_->pull(render_out_.data() + at, audio::kRenderQuantum).drained || drained;
  const audio::Level level = audio::measure_level(render_out_.data(), count);
  meters_[meter_out_rms] = level.rms_dbfs;
  meters_[meter_out_peak] = level.peak_dbfs;
  meters_[meter_buffered_ms] = static_cast<float>(playback_->queue().buffered_ms());
  meters_[meter_underruns] = static_cast<float>(playback_->queue().underruns());
  return (drained ? 1 : 0) | (playback_->queue().playing() ? 2 : 0);
}

void ClientCore::playback_drained(std::int64_t now) {
  call_.on_playback_drained(now);
  pump(now);
}

// ---- events ----------------------------------------------------------------------------

void ClientCore::emit(std::string type, json args) {
  events_.push_back(json{{"type", std::move(type)}, {"args", std::move(args)}});
}

void ClientCore::emit_error(ClientError error, std::string_view detail) {
  Error e = make_client_error(error, detail);
  emit("onerror", json::array({json{{"code", e.code}, {"message", e.message}}}));
}

std::string ClientCore::take_events() {
  if (events_.empty()) return "[]";
  std::string text = to_json_text(events_);
  events_ = json::array();
  return text;
}

void ClientCore::touch(std::int64_t now, bool force) {
  if (session_id_.empty() || !remember_) return;
  if (!force && now - last_touch_ < config_.touch_interval_ms) return;
  last_touch_ = now;
  (void)store_.touch(config_.integration_id, now);
}

void ClientCore::pump(std::int64_t now) {
  for (CallEvent& event : call_.take_events()) {
    if (auto* ready = std::get_if<ReadyEvent>(&event)) {
      was_ready_ = true;
      if (reconnecting_) {
        reconnecting_ = false;
        reconnect_.connected();
      }
      session_id_ = ready->session_id;
      if (request_ && request_->agent_id && remember_) {
        SessionRecord record{session_id_, *request_->agent_id, now, std::nullopt, identity_};
        if (ready->continued_from && *ready->continued_from != session_id_)
          record.continued_from = ready->continued_from;
        else if (auto stored = store_.load(config_.integration_id);
                 stored.record && stored.record->session_id == session_id_)
          record.continued_from = stored.record->continued_from;  // resumed: keep the link
        (void)store_.save(config_.integration_id, record);
        last_touch_ = now;
      }
      emit("onready", json::array({ready_payload(*ready)}));
    } else if (std::holds_alternative<OpenEvent>(event)) {
      emit("onopen");
    } else if (auto* ended = std::get_if<SessionEndedEvent>(&event)) {
      json payload = json::object();
      if (ended->reason) payload["reason"] = *ended->reason;
      emit("onsessionended", json::array({nullptr, payload}));
    } else if (auto* audio_event = std::get_if<AudioEvent>(&event)) {
      if (playback_) {
        if (auto pushed = playback_->push_pcm16(audio_event->pcm.data(), audio_event->pcm.size());
            !pushed) {
          emit("onwarning", json::array({json{{"code", pushed.error().code},
                                              {"message", pushed.error().message}}}));
        }
      }
    } else if (auto* text = std::get_if<ResponseTextEvent>(&event)) {
      emit("onresponsetext", json::array({text->text, json{{"is_final", text->is_final}}}));
      if (text->is_final) touch(now, false);
    } else if (auto* transcript = std::get_if<TranscriptEvent>(&event)) {
      emit("ontranscript",
           json::array({transcript->text, json{{"is_final", transcript->is_final}}}));
      if (transcript->is_final) touch(now, false);
    } else if (auto* state = std::get_if<AgentStateEvent>(&event)) {
      emit("onagentstate", json::array({std::string(to_string(state->state))}));
    } else if (auto* latency = std::get_if<LatencyEvent>(&event)) {
      emit("onlatency", json::array({latency->ms}));
    } else if (auto* rtt = std::get_if<RttEvent>(&event)) {
      emit("onrtt", json::array({rtt->ms}));
    } else if (auto* action = std::get_if<AiActionEvent>(&event)) {
      emit("ai_action", json::array({action->data, action->payload}));
    } else if (auto* playback = std::get_if<PlaybackEvent>(&event)) {
      // Barge-in and pause act on the core's queue here; the JS passes the same command to
      // the worklet, which drops (or holds) the little it has buffered.
      if (playback_) {
        if (playback->command == PlaybackCommand::clear) {
          playback_->clear();
          meters_[meter_buffered_ms] = 0.0f;
        }
        else if (playback->command == PlaybackCommand::pause) playback_->pause();
        else playback_->resume();
      }
      emit("playback", json::array({playback_command_name(playback->command)}));
    } else if (auto* close = std::get_if<CloseEvent>(&event)) {
      handle_close(*close, now);
    } else if (auto* error = std::get_if<ErrorEvent>(&event)) {
      if (error->source == ErrorEvent::Source::server) {
        server_error_ = error->error;  // the refusal's close follows
      } else if (error->source == ErrorEvent::Source::protocol) {
        emit("onwarning", json::array({json{{"code", error->error.code},
                                            {"message", error->error.message}}}));
      }
      // Socket errors: browsers always follow them with a close, which says more.
    } else if (auto* other = std::get_if<MessageEvent>(&event)) {
      emit(other->method, json::array({other->data, other->payload}));
    }
  }
}

void ClientCore::handle_close(const CloseEvent& close, std::int64_t now) {
  const CloseDisposition disposition = classify_close(close.code, stop_asked_);
  const std::string code_text = "WebSocket closed with code " + std::to_string(close.code);
  if (disposition == CloseDisposition::lost && (was_ready_ || reconnecting_)) {
    was_ready_ = false;
    if (auto delay = reconnect_.on_lost(now, pending_random_)) {
      reconnecting_ = true;
      if (playback_) playback_->clear();  // the interrupted answer will not go on
      emit("playback", json::array({"clear"}));
      emit("onreconnecting", json::array({json{{"attempt", reconnect_.attempts()},
                                               {"delay_ms", *delay},
                                               {"code", close.code}}}));
      return;
    }
    reconnecting_ = false;
    emit_error(client_error_for_unreachable(pending_online_),
               "the connection was lost and could not be restored (" + code_text + ")");
  } else if (disposition == CloseDisposition::refused) {
    const ClientError error = client_error_for_close(close.code).value_or(ClientError::server_error);
    emit_error(error, server_error_ ? server_error_->message : code_text);
  } else if (disposition == CloseDisposition::lost) {
    emit_error(client_error_for_unreachable(pending_online_), "could not connect (" + code_text + ")");
  } else if (close.code == to_int(CloseCode::idle_timeout) && !stop_asked_) {
    emit_error(ClientError::idle_timeout, server_error_ ? server_error_->message : code_text);
  }
  reconnecting_ = false;
  was_ready_ = false;
  server_error_.reset();
  emit("onclose", json::array({json{{"code", close.code}, {"reason", close.reason}}}));
  touch(now, true);
}

// ---- state -----------------------------------------------------------------------------

void ClientCore::set_origin(bool resumed, std::optional<std::string> continued_from,
                            std::string session_id, std::string identity, bool remember) {
  origin_.resumed = resumed;
  origin_.continued_from = std::move(continued_from);
  session_id_ = std::move(session_id);
  identity_ = std::move(identity);
  remember_ = remember;
}

json ClientCore::state(std::string_view integration_id) const {
  if (integration_id != config_.integration_id) {
    return to_json(get_state(store_, integration_id, SessionOrigin{}, nullptr));
  }
  CallSnapshot snap = call_.snapshot();
  // The host names the session itself as continued_from when it resumes in place.
  if (snap.continued_from && *snap.continued_from == snap.session_id) snap.continued_from.reset();
  // Only the session of this client's latest call counts (a later resume may have replaced it).
  if (snap.session_id != session_id_) snap.session_id.clear();
  const bool live = snap.connection != ConnectionState::idle;
  json out = to_json(get_state(store_, integration_id, origin_, live ? &snap : nullptr));
  if (reconnecting_) out["connection"] = "reconnecting";
  // The id in use, also when the store does not follow it (a URL sessionID's load).
  if (!session_id_.empty()) out["sessionID"] = session_id_;
  return out;
}

json ClientCore::snapshot() const {
  const CallSnapshot s = call_.snapshot();
  auto opt = [](const auto& v) -> json { return v ? json(*v) : json(nullptr); };
  return json{{"connection", reconnecting_ ? std::string("reconnecting")
                                            : std::string(to_string(s.connection))},
              {"agentState", std::string(to_string(s.agent))},
              {"muted", muted_},
              {"sessionID", session_id_.empty() ? json(nullptr) : json(session_id_)},
              {"latencyMs", opt(s.last_latency_ms)},
              {"rttMs", opt(s.last_rtt_ms)},
              {"closeCode", opt(s.close_code)}};
}

}  // namespace parley::sdk
