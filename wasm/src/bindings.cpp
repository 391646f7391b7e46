// The wasm module's surface: plain C exports taking heap offsets, wrapped by the hand-written
// JS in wasm/js/core.mjs (the only caller). DESIGN §8 suggests embind for the API objects (a
// SHOULD); measured on this module, embind cost 11.9 KB gzip of the SDK's 119.7 KB (its C++
// side: the registry, the std::string and emscripten::val marshalling of each signature; and
// 7 KB of generated JS), against a budget of 80 KB, so the API objects cross the boundary the
// way the audio already did:
//  - strings in: UTF-8 bytes the JS wrote into the heap, as (pointer, size) pairs;
//  - strings out: a pointer to the bytes of one result string, whose size pl_result_size()
//    gives; it stays valid until the next call that answers a string;
//  - structured values: JSON text (the core's to_json_text / parse_json), as before;
//  - objects: a ClientCore or ResumeFlow is a pointer (its handle), freed by pl_*_delete;
//  - the key-value store: a number the JS registered the store object under (js_store.hpp).
// Audio crosses through buffers the core allocated once (pl_capture_buffer, ...), so no
// sample is converted on the way.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <emscripten/emscripten.h>

#include "client_core.hpp"
#include "js_store.hpp"
#include "parley/client_errors.hpp"
#include "parley/embed_url.hpp"
#include "parley/start_request.hpp"
#include "parley/templates.hpp"
#include "resume_bridge.hpp"

// The SDK is built without C++ exceptions (smaller; the core never throws or catches):
// Boost's throw points end here, as an uncaught exception would.
namespace boost {
struct source_location;
[[noreturn]] void throw_exception(const std::exception&) { std::abort(); }
[[noreturn]] void throw_exception(const std::exception&, const source_location&) { std::abort(); }
}  // namespace boost

namespace parley::sdk {
namespace {

std::string g_result;

const char* answer(std::string text) {
  g_result = std::move(text);
  return g_result.data();
}

std::string_view in(const char* data, std::size_t size) { return {data, size}; }

json error_json(const Error& e) { return json{{"code", e.code}, {"message", e.message}}; }

std::string status_json(const Status& s) {
  return s ? std::string() : to_json_text(json{{"error", error_json(s.error())}});
}

std::int64_t ms(double now) { return static_cast<std::int64_t>(now); }

// A ClientCore with its store: what the JS holds for one client.
struct ClientHandle {
  ClientHandle(int store, std::string_view config_json) : kv(store) {
    auto config = parse_client_config(config_json);
    if (!config) {
      error = to_json_text(json{{"error", error_json(config.error())}});
      config = ClientCoreConfig{};
    }
    core = std::make_unique<ClientCore>(kv, std::move(*config));
  }
  JsKeyValueStore kv;
  std::unique_ptr<ClientCore> core;
  std::vector<Outgoing> out;
  std::vector<std::uint32_t> out_table;  // per frame: kind, pointer, size, close code
  std::string error;
};

struct ResumeHandle {
  ResumeHandle(int store, std::string_view input_json) : kv(store), bridge(kv, input_json) {}
  JsKeyValueStore kv;
  ResumeBridge bridge;
  std::vector<std::uint32_t> table;  // pl_resume_lines' table
  std::string block;                 // and its strings
};

std::uint32_t offset_of(const void* p) {
  return static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(p));
}

}  // namespace
}  // namespace parley::sdk

using namespace parley;
using namespace parley::sdk;
using Client = ClientHandle;

extern "C" {

// ---- memory and results ----------------------------------------------------------------
EMSCRIPTEN_KEEPALIVE void* pl_alloc(std::size_t size) { return std::malloc(size ? size : 1); }
EMSCRIPTEN_KEEPALIVE void pl_free(void* p) { std::free(p); }
EMSCRIPTEN_KEEPALIVE std::size_t pl_result_size() { return g_result.size(); }

// ---- stateless helpers -------------------------------------------------------------------

// parseWidgetUrl(url) -> {ok: {agent_id, public_key, session_id, integration_id, metadata}}
// or {error: {code, message}}.
EMSCRIPTEN_KEEPALIVE const char* pl_parse_widget_url(const char* url, std::size_t size) {
  auto config = parse_embed_url(in(url, size));
  if (!config) return answer(to_json_text(json{{"error", error_json(config.error())}}));
  return answer(to_json_text(json{{"ok", to_json(*config)}}));
}

EMSCRIPTEN_KEEPALIVE const char* pl_check_template(const char* tmpl, std::size_t tmpl_size,
                                                   const char* metadata_json,
                                                   std::size_t metadata_size) {
  json metadata;
  if (metadata_size != 0) {
    auto parsed = parse_json(in(metadata_json, metadata_size), "metadata", 16);
    if (!parsed) return answer(to_json_text(json{{"error", error_json(parsed.error())}}));
    metadata = std::move(*parsed);
  }
  const TemplateResult filled = fill_template(in(tmpl, tmpl_size), metadata);
  return answer(to_json_text(json{{"text", filled.text},
                                  {"used", filled.used},
                                  {"missing", filled.missing},
                                  {"defaulted", filled.defaulted},
                                  {"ok", filled.missing.empty()}}));
}

// start()'s arguments checked as start() will read them, before the microphone is asked
// for: "" when they are fine, else {error}.
EMSCRIPTEN_KEEPALIVE const char* pl_check_start(const char* first, std::size_t first_size,
                                                const char* metadata, std::size_t metadata_size,
                                                const char* include, std::size_t include_size) {
  auto request = parse_start_arguments(in(first, first_size), in(metadata, metadata_size),
                                       in(include, include_size));
  return answer(request ? std::string() : to_json_text(json{{"error", error_json(request.error())}}));
}

EMSCRIPTEN_KEEPALIVE const char* pl_state_of(int store, const char* integration_id,
                                             std::size_t size) {
  JsKeyValueStore kv(store);
  return answer(to_json_text(to_json(get_state(SessionStore(kv), in(integration_id, size), {}, nullptr))));
}

// Logout (DESIGN §5 step 6): the session stored for an integration is forgotten.
EMSCRIPTEN_KEEPALIVE void pl_forget(int store, const char* integration_id, std::size_t size) {
  JsKeyValueStore kv(store);
  SessionStore(kv).forget(in(integration_id, size));
}

// The ClientError for a getUserMedia failure (kind "media", the DOMException name) or an
// unreachable server (kind "offline" / "unreachable"), as {code, message}.
EMSCRIPTEN_KEEPALIVE const char* pl_client_error(const char* kind_data, std::size_t kind_size,
                                                 const char* name_data, std::size_t name_size,
                                                 const char* detail, std::size_t detail_size) {
  const std::string_view kind = in(kind_data, kind_size);
  const std::string_view name = in(name_data, name_size);
  ClientError error = ClientError::server_gone;
  if (kind == "media") error = client_error_for_media(name);
  else if (kind == "offline") error = ClientError::offline;
  else if (kind == "unreachable") error = client_error_for_unreachable(name != "offline");
  else if (kind == "unsupported") error = ClientError::unsupported_browser;
  else if (kind == "insecure") error = ClientError::insecure_context;
  return answer(to_json_text(error_json(make_client_error(error, in(detail, detail_size)))));
}

EMSCRIPTEN_KEEPALIVE const char* pl_text_request(const char* session, std::size_t session_size,
                                                 const char* text, std::size_t text_size) {
  return answer(text_request(in(session, session_size), in(text, text_size)));
}
EMSCRIPTEN_KEEPALIVE const char* pl_text_reply(int status, const char* body, std::size_t size) {
  return answer(text_reply(status, in(body, size)));
}

// ---- ClientCore ----------------------------------------------------------------------------
EMSCRIPTEN_KEEPALIVE Client* pl_client_new(int store, const char* config, std::size_t size) {
  return new Client(store, in(config, size));
}
EMSCRIPTEN_KEEPALIVE void pl_client_delete(Client* c) { delete c; }
EMSCRIPTEN_KEEPALIVE const char* pl_client_config_error(Client* c) { return answer(c->error); }

EMSCRIPTEN_KEEPALIVE const char* pl_client_start(Client* c, const char* first, std::size_t first_size,
                                                 const char* metadata, std::size_t metadata_size,
                                                 const char* include, std::size_t include_size,
                                                 double now) {
  return answer(status_json(c->core->start(in(first, first_size), in(metadata, metadata_size),
                                           in(include, include_size), ms(now))));
}
EMSCRIPTEN_KEEPALIVE int pl_client_reconnect(Client* c, double now) { return c->core->reconnect(ms(now)); }
EMSCRIPTEN_KEEPALIVE void pl_client_on_open(Client* c, double now) { c->core->on_open(ms(now)); }
EMSCRIPTEN_KEEPALIVE void pl_client_on_text(Client* c, const char* text, std::size_t size, double now) {
  c->core->on_text(in(text, size), ms(now));
}
// The frame's bytes are in pl_incoming_buffer (a larger frame is refused by its size alone).
EMSCRIPTEN_KEEPALIVE void pl_client_on_binary(Client* c, int size, double now) {
  c->core->on_binary(size < 0 ? 0 : static_cast<std::size_t>(size), ms(now));
}
EMSCRIPTEN_KEEPALIVE void pl_client_on_close(Client* c, int code, const char* reason, std::size_t size,
                                             double now, double random01, int online) {
  c->core->on_close(code, in(reason, size), ms(now), random01, online != 0);
}
EMSCRIPTEN_KEEPALIVE void pl_client_on_socket_error(Client* c, double now) {
  c->core->on_socket_error("error", ms(now));
}
EMSCRIPTEN_KEEPALIVE const char* pl_client_send_text(Client* c, const char* text, std::size_t size,
                                                     double now) {
  return answer(status_json(c->core->send_text(in(text, size), ms(now))));
}
EMSCRIPTEN_KEEPALIVE void pl_client_set_muted(Client* c, int muted) { c->core->set_muted(muted != 0); }
EMSCRIPTEN_KEEPALIVE void pl_client_tick(Client* c, double now) { c->core->tick(ms(now)); }
EMSCRIPTEN_KEEPALIVE void pl_client_stop(Client* c, double now) { c->core->stop(ms(now)); }
EMSCRIPTEN_KEEPALIVE void pl_client_note_activity(Client* c, double now) { c->core->note_activity(ms(now)); }
EMSCRIPTEN_KEEPALIVE const char* pl_client_audio_start(Client* c, int rate) {
  return answer(status_json(c->core->audio_start(rate)));
}
EMSCRIPTEN_KEEPALIVE void pl_client_audio_stop(Client* c) { c->core->audio_stop(); }
EMSCRIPTEN_KEEPALIVE void pl_client_playback_drained(Client* c, double now) {
  c->core->playback_drained(ms(now));
}

// The frames to send since the last call: a table of four u32 per frame (kind 0 text /
// 1 binary / 2 close, the offset and size of its bytes, i.e. the text, the audio or the close
// reason, and the close code), valid until the next call; pl_result_size() is the count.
EMSCRIPTEN_KEEPALIVE const std::uint32_t* pl_client_take_outgoing(Client* c) {
  c->out = c->core->take_outgoing();
  c->out_table.clear();
  for (const Outgoing& o : c->out) {
    const bool binary = o.kind == Outgoing::Kind::binary;
    const std::string& text = o.kind == Outgoing::Kind::close ? o.close_reason : o.text;
    c->out_table.push_back(static_cast<std::uint32_t>(o.kind));
    c->out_table.push_back(binary ? offset_of(o.audio.data()) : offset_of(text.data()));
    c->out_table.push_back(static_cast<std::uint32_t>(binary ? o.audio.size() : text.size()));
    c->out_table.push_back(static_cast<std::uint32_t>(o.close_code));
  }
  g_result.resize(c->out.size());  // the count, read by pl_result_size()
  return c->out_table.data();
}
EMSCRIPTEN_KEEPALIVE const char* pl_client_take_events(Client* c) { return answer(c->core->take_events()); }
EMSCRIPTEN_KEEPALIVE void pl_client_set_origin(Client* c, int resumed, int remember,
                                               const char* continued_from, std::size_t continued_size,
                                               const char* session, std::size_t session_size,
                                               const char* identity, std::size_t identity_size) {
  c->core->set_origin(resumed != 0,
                      continued_size == 0 ? std::nullopt
                                          : std::optional<std::string>(in(continued_from, continued_size)),
                      std::string(in(session, session_size)), std::string(in(identity, identity_size)),
                      remember != 0);
}
EMSCRIPTEN_KEEPALIVE const char* pl_client_state(Client* c, const char* integration_id, std::size_t size) {
  return answer(to_json_text(c->core->state(in(integration_id, size))));
}
EMSCRIPTEN_KEEPALIVE const char* pl_client_snapshot(Client* c) { return answer(to_json_text(c->core->snapshot())); }

// ---- raw audio entry points -----------------------------------------------------------------
EMSCRIPTEN_KEEPALIVE float* pl_capture_buffer(Client* c) { return c->core->capture_buffer(); }
EMSCRIPTEN_KEEPALIVE int pl_capture(Client* c, int count, double now) {
  return static_cast<int>(c->core->capture(count < 0 ? 0 : static_cast<std::size_t>(count), ms(now)));
}
EMSCRIPTEN_KEEPALIVE float* pl_render_buffer(Client* c) { return c->core->render_buffer(); }
EMSCRIPTEN_KEEPALIVE int pl_render(Client* c, int count) {
  return c->core->render(count < 0 ? 0 : static_cast<std::size_t>(count));
}
EMSCRIPTEN_KEEPALIVE std::uint8_t* pl_incoming_buffer(Client* c) { return c->core->incoming_buffer(); }
EMSCRIPTEN_KEEPALIVE int pl_queued(Client* c) { return static_cast<int>(c->core->queued()); }
EMSCRIPTEN_KEEPALIVE float* pl_meters(Client* c) { return c->core->meters(); }

// ---- ResumeFlow ------------------------------------------------------------------------------
EMSCRIPTEN_KEEPALIVE ResumeHandle* pl_resume_new(int store, const char* input, std::size_t size) {
  return new ResumeHandle(store, in(input, size));
}
EMSCRIPTEN_KEEPALIVE void pl_resume_delete(ResumeHandle* r) { delete r; }
EMSCRIPTEN_KEEPALIVE const char* pl_resume_start(ResumeHandle* r, double now) {
  return answer(r->bridge.start(ms(now)));
}
EMSCRIPTEN_KEEPALIVE const char* pl_resume_on_response(ResumeHandle* r, int status, const char* body,
                                                       std::size_t size, double now) {
  return answer(r->bridge.on_response(status, in(body, size), ms(now)));
}
EMSCRIPTEN_KEEPALIVE const char* pl_resume_on_transport_error(ResumeHandle* r, const char* message,
                                                              std::size_t size, double now) {
  return answer(r->bridge.on_transport_error(in(message, size), ms(now)));
}
EMSCRIPTEN_KEEPALIVE const char* pl_resume_likely_next(ResumeHandle* r) {
  return answer(r->bridge.likely_next());
}
EMSCRIPTEN_KEEPALIVE const char* pl_resume_outcome(ResumeHandle* r) { return answer(r->bridge.outcome()); }
EMSCRIPTEN_KEEPALIVE const char* pl_resume_warnings(ResumeHandle* r) { return answer(r->bridge.warnings()); }
// The outcome's lines (resumed: the history; new: the earlier lines) for the JS to read once:
// all their strings one after the other in one UTF-8 block (text, timestamp, emitter of each
// line), which the JS decodes with a single TextDecoder call and cuts, and a table of 4
// numbers per line: the text's, timestamp's and emitter's sizes in bytes, and flags (1 inbound,
// 2 earlier, 4 has an emitter). Returns the table; pl_result_size() is the count of lines;
// pl_resume_block() / pl_resume_block_size() the block. Valid until the flow is deleted or
// asked again.
EMSCRIPTEN_KEEPALIVE const std::uint32_t* pl_resume_lines(ResumeHandle* r) {
  r->table.clear();
  r->block.clear();
  const std::vector<ChatLine>* lines = r->bridge.lines();
  const std::size_t count = lines ? lines->size() : 0;
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < count; ++i) bytes += (*lines)[i].text.size() + (*lines)[i].timestamp.size();
  r->block.reserve(bytes);
  r->table.resize(count * 4);
  std::uint32_t* t = r->table.data();
  for (std::size_t i = 0; i < count; ++i, t += 4) {
    const ChatLine& l = (*lines)[i];
    r->block += l.text;
    r->block += l.timestamp;
    if (l.emitter) r->block += *l.emitter;
    t[0] = static_cast<std::uint32_t>(l.text.size());
    t[1] = static_cast<std::uint32_t>(l.timestamp.size());
    t[2] = l.emitter ? static_cast<std::uint32_t>(l.emitter->size()) : 0u;
    t[3] = (l.inbound ? 1u : 0u) | (l.earlier ? 2u : 0u) | (l.emitter ? 4u : 0u);
  }
  g_result.resize(count);  // the count, read by pl_result_size()
  return r->table.data();
}
EMSCRIPTEN_KEEPALIVE const char* pl_resume_block(ResumeHandle* r) { return r->block.data(); }
EMSCRIPTEN_KEEPALIVE std::size_t pl_resume_block_size(ResumeHandle* r) { return r->block.size(); }

}  // extern "C"
