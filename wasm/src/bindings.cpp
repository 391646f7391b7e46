// The wasm module's surface (DESIGN §8): embind for the API objects (ClientCore, ResumeFlow)
// and the small stateless helpers, and raw entry points taking heap offsets for the audio
// path, so that no sample goes through embind. The JS wrapper in wasm/js/ is the only
// caller; strings cross as UTF-8, structured values as JSON text.
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>

#include <emscripten/bind.h>
#include <emscripten/emscripten.h>

#include "client_core.hpp"
#include "parley/client_errors.hpp"
#include "parley/embed_url.hpp"
#include "parley/start_request.hpp"
#include "parley/templates.hpp"
#include "resume_bridge.hpp"
#include "val_store.hpp"

// The SDK is built without C++ exceptions (smaller; the core never throws or catches):
// Boost's throw points end here, as an uncaught exception would.
namespace boost {
struct source_location;
[[noreturn]] void throw_exception(const std::exception&) { std::abort(); }
[[noreturn]] void throw_exception(const std::exception&, const source_location&) { std::abort(); }
}  // namespace boost

namespace parley::sdk {
namespace {

using emscripten::val;

json error_json(const Error& e) { return json{{"code", e.code}, {"message", e.message}}; }

std::string status_json(const Status& s) {
  return s ? std::string() : to_json_text(json{{"error", error_json(s.error())}});
}

// parseWidgetUrl(url) -> {ok: {agent_id, public_key, session_id, integration_id, metadata}}
// or {error: {code, message}}.
std::string parse_widget_url(const std::string& url) {
  auto config = parse_embed_url(url);
  if (!config) return to_json_text(json{{"error", error_json(config.error())}});
  return to_json_text(json{{"ok", to_json(*config)}});
}

std::string check_template_json(const std::string& tmpl, const std::string& metadata_json) {
  json metadata;
  if (!metadata_json.empty()) {
    auto parsed = parse_json(metadata_json, "metadata", 16);
    if (!parsed) return to_json_text(json{{"error", error_json(parsed.error())}});
    metadata = std::move(*parsed);
  }
  const TemplateResult filled = fill_template(tmpl, metadata);
  return to_json_text(json{{"text", filled.text},
                           {"used", filled.used},
                           {"missing", filled.missing},
                           {"defaulted", filled.defaulted},
                           {"ok", filled.missing.empty()}});
}

// start()'s arguments checked as start() will read them, before the microphone is asked for.
std::string check_start(const std::string& first, const std::string& metadata,
                        const std::string& include) {
  auto arg = [](const std::string& text, const char* name) -> Result<json> {
    if (text.empty()) return json(nullptr);
    return parse_json(text, name, 16);
  };
  auto f = arg(first, "start payload");
  if (!f) return status_json(std::move(f).error());
  auto m = arg(metadata, "metadata");
  if (!m) return status_json(std::move(m).error());
  auto i = arg(include, "includeMetadataInPrompt");
  if (!i) return status_json(std::move(i).error());
  auto request = normalize_start(*f, *m, *i);
  if (!request) return status_json(std::move(request).error());
  return "";
}

std::string state_of(val store, const std::string& integration_id) {
  ValKeyValueStore kv(std::move(store));
  return to_json_text(to_json(get_state(SessionStore(kv), integration_id, {}, nullptr)));
}

// The ClientError for a getUserMedia failure (kind "media", the DOMException name) or an
// unreachable server (kind "offline" / "unreachable"), as {code, message}.
std::string client_error(const std::string& kind, const std::string& name,
                         const std::string& detail) {
  ClientError error = ClientError::server_gone;
  if (kind == "media") error = client_error_for_media(name);
  else if (kind == "offline") error = ClientError::offline;
  else if (kind == "unreachable") error = client_error_for_unreachable(name != "offline");
  else if (kind == "unsupported") error = ClientError::unsupported_browser;
  else if (kind == "insecure") error = ClientError::insecure_context;
  return to_json_text(error_json(make_client_error(error, detail)));
}

// ClientCore with its store: what embind holds for one JS client.
class ClientHandle {
 public:
  ClientHandle(val store, const std::string& config_json) : kv_(std::move(store)) {
    auto config = parse_client_config(config_json);
    if (!config) {
      error_ = to_json_text(json{{"error", error_json(config.error())}});
      config = ClientCoreConfig{};
    }
    core_ = std::make_unique<ClientCore>(kv_, std::move(*config));
  }

  std::string config_error() const { return error_; }
  std::uintptr_t handle() { return reinterpret_cast<std::uintptr_t>(core_.get()); }

  std::string start(const std::string& first, const std::string& metadata,
                    const std::string& include, double now) {
    return status_json(core_->start(first, metadata, include, ms(now)));
  }
  bool reconnect(double now) { return core_->reconnect(ms(now)); }
  bool wants_socket() const { return core_->wants_socket(); }
  void on_open(double now) { core_->on_open(ms(now)); }
  void on_text(const std::string& text, double now) { core_->on_text(text, ms(now)); }
  void on_binary(int size, double now) {
    core_->on_binary(size < 0 ? 0 : static_cast<std::size_t>(size), ms(now));
  }
  void on_close(int code, const std::string& reason, double now, double random01, bool online) {
    core_->on_close(code, reason, ms(now), random01, online);
  }
  void on_socket_error(const std::string& what, double now) { core_->on_socket_error(what, ms(now)); }
  std::string send_text(const std::string& text, double now) {
    return status_json(core_->send_text(text, ms(now)));
  }
  void set_muted(bool muted) { core_->set_muted(muted); }
  void tick(double now) { core_->tick(ms(now)); }
  void stop(double now) { core_->stop(ms(now)); }
  void note_activity(double now) { core_->note_activity(ms(now)); }
  std::string audio_start(int rate) { return status_json(core_->audio_start(rate)); }
  void audio_stop() { core_->audio_stop(); }
  void playback_drained(double now) { core_->playback_drained(ms(now)); }

  // The frames to send since the last call: their count; then each by index.
  int take_outgoing() {
    out_ = core_->take_outgoing();
    return static_cast<int>(out_.size());
  }
  int out_kind(int i) const { return static_cast<int>(at(i).kind); }  // 0 text, 1 binary, 2 close
  std::string out_text(int i) const { return at(i).text; }
  std::uintptr_t out_data(int i) const { return reinterpret_cast<std::uintptr_t>(at(i).audio.data()); }
  int out_size(int i) const { return static_cast<int>(at(i).audio.size()); }
  int out_close_code(int i) const { return at(i).close_code; }
  std::string out_close_reason(int i) const { return at(i).close_reason; }

  std::string take_events() { return core_->take_events(); }
  void set_origin(bool resumed, const std::string& continued_from, const std::string& session_id) {
    core_->set_origin(resumed,
                      continued_from.empty() ? std::nullopt : std::optional<std::string>(continued_from),
                      session_id);
  }
  std::string state(const std::string& integration_id) const {
    return to_json_text(core_->state(integration_id));
  }
  std::string snapshot() const { return to_json_text(core_->snapshot()); }

 private:
  static std::int64_t ms(double now) { return static_cast<std::int64_t>(now); }
  const Outgoing& at(int i) const {
    static const Outgoing none;
    return i >= 0 && static_cast<std::size_t>(i) < out_.size() ? out_[static_cast<std::size_t>(i)] : none;
  }

  ValKeyValueStore kv_;
  std::unique_ptr<ClientCore> core_;
  std::vector<Outgoing> out_;
  std::string error_;
};

class ResumeHandle {
 public:
  ResumeHandle(val store, const std::string& input_json)
      : kv_(std::move(store)), bridge_(kv_, input_json) {}
  std::string start(double now) { return bridge_.start(static_cast<std::int64_t>(now)); }
  std::string on_response(int status, const std::string& body, double now) {
    return bridge_.on_response(status, body, static_cast<std::int64_t>(now));
  }
  std::string on_transport_error(const std::string& message, double now) {
    return bridge_.on_transport_error(message, static_cast<std::int64_t>(now));
  }
  std::string outcome() const { return bridge_.outcome(); }
  std::string warnings() const { return bridge_.warnings(); }

 private:
  ValKeyValueStore kv_;
  ResumeBridge bridge_;
};

ClientCore* core_of(std::uintptr_t handle) { return reinterpret_cast<ClientCore*>(handle); }

}  // namespace
}  // namespace parley::sdk

// ---- raw audio entry points (heap offsets; `h` is ClientCore.handle()) -------------------
extern "C" {
EMSCRIPTEN_KEEPALIVE float* pl_capture_buffer(std::uintptr_t h) {
  return parley::sdk::core_of(h)->capture_buffer();
}
EMSCRIPTEN_KEEPALIVE int pl_capture(std::uintptr_t h, int count, double now) {
  return static_cast<int>(parley::sdk::core_of(h)->capture(
      count < 0 ? 0 : static_cast<std::size_t>(count), static_cast<std::int64_t>(now)));
}
EMSCRIPTEN_KEEPALIVE float* pl_render_buffer(std::uintptr_t h) {
  return parley::sdk::core_of(h)->render_buffer();
}
EMSCRIPTEN_KEEPALIVE int pl_render(std::uintptr_t h, int count) {
  return parley::sdk::core_of(h)->render(count < 0 ? 0 : static_cast<std::size_t>(count));
}
EMSCRIPTEN_KEEPALIVE std::uint8_t* pl_incoming_buffer(std::uintptr_t h) {
  return parley::sdk::core_of(h)->incoming_buffer();
}
EMSCRIPTEN_KEEPALIVE int pl_queued(std::uintptr_t h) {
  return static_cast<int>(parley::sdk::core_of(h)->queued());
}
EMSCRIPTEN_KEEPALIVE float* pl_meters(std::uintptr_t h) { return parley::sdk::core_of(h)->meters(); }
}

EMSCRIPTEN_BINDINGS(parley_sdk) {
  using namespace emscripten;
  using namespace parley::sdk;
#ifndef X_NO_URL
  function("parseWidgetUrl", &parse_widget_url);
#endif
#ifndef X_NO_TPL
  function("checkTemplate", &check_template_json);
#endif
  function("stateOf", &state_of);
  function("checkStart", &check_start);
  function("clientError", &client_error);
  function("textRequest", +[](const std::string& session, const std::string& text) {
    return text_request(session, text);
  });
  function("textReply", +[](int status, const std::string& body) { return text_reply(status, body); });

  class_<ClientHandle>("ClientCore")
      .constructor<val, const std::string&>()
      .function("configError", &ClientHandle::config_error)
      .function("handle", &ClientHandle::handle)
      .function("start", &ClientHandle::start)
      .function("reconnect", &ClientHandle::reconnect)
      .function("wantsSocket", &ClientHandle::wants_socket)
      .function("onOpen", &ClientHandle::on_open)
      .function("onText", &ClientHandle::on_text)
      .function("onBinary", &ClientHandle::on_binary)
      .function("onClose", &ClientHandle::on_close)
      .function("onSocketError", &ClientHandle::on_socket_error)
      .function("sendText", &ClientHandle::send_text)
      .function("setMuted", &ClientHandle::set_muted)
      .function("tick", &ClientHandle::tick)
      .function("stop", &ClientHandle::stop)
      .function("noteActivity", &ClientHandle::note_activity)
      .function("audioStart", &ClientHandle::audio_start)
      .function("audioStop", &ClientHandle::audio_stop)
      .function("playbackDrained", &ClientHandle::playback_drained)
      .function("takeOutgoing", &ClientHandle::take_outgoing)
      .function("outKind", &ClientHandle::out_kind)
      .function("outText", &ClientHandle::out_text)
      .function("outData", &ClientHandle::out_data)
      .function("outSize", &ClientHandle::out_size)
      .function("outCloseCode", &ClientHandle::out_close_code)
      .function("outCloseReason", &ClientHandle::out_close_reason)
      .function("takeEvents", &ClientHandle::take_events)
      .function("setOrigin", &ClientHandle::set_origin)
      .function("state", &ClientHandle::state)
      .function("snapshot", &ClientHandle::snapshot);

#ifndef X_NO_RESUME
  class_<ResumeHandle>("ResumeFlow")
      .constructor<val, const std::string&>()
      .function("start", &ResumeHandle::start)
      .function("onResponse", &ResumeHandle::on_response)
      .function("onTransportError", &ResumeHandle::on_transport_error)
      .function("outcome", &ResumeHandle::outcome)
      .function("warnings", &ResumeHandle::warnings);
#endif
}
