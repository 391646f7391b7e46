#include "parley/protocol.hpp"

#include <iterator>
#include <limits>
#include <string>
#include <utility>

namespace parley {
namespace {

// ---- helpers for errors -------------------------------------------------------------------

// A stranger's string shown in an error: quoted and capped (at a UTF-8 character boundary),
// so a hostile 60 KB method name does not fill a log line.
std::string show_string(std::string_view s) {
  constexpr std::size_t cap = 40;
  std::string out = "\"";
  if (s.size() <= cap) {
    out.append(s);
  } else {
    std::size_t end = cap;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
    out.append(s.substr(0, end));
    out += "...";
  }
  out += '"';
  return out;
}

Error missing(const std::string& what) { return make_error("missing_field", what + " is missing"); }

Error wrong_type(const std::string& what, std::string_view rule, const json& got) {
  return make_error("wrong_type",
                    what + " must be " + std::string(rule) + ", not " + json_type_name(got));
}

Error with_prefix(Error error, std::string_view prefix) {
  error.message = std::string(prefix) + error.message;
  return error;
}

const json& member(const json& object, const char* key) {
  static const json null_value;
  if (!object.is_object()) return null_value;
  const auto it = object.find(key);
  return it == object.end() ? null_value : *it;
}

// ---- the envelope {"method": string, "data"?: any, "payload"?: object} ----------------------

struct Envelope {
  json root;
  std::string method;
  const json& data() const { return member(root, "data"); }
  const json& payload() const { return member(root, "payload"); }
};

Result<Envelope> parse_envelope(std::string_view text, std::string_view what) {
  auto parsed = parse_json(text, what, ProtocolLimits::max_json_depth);
  if (!parsed) return std::move(parsed).error();
  Envelope envelope{std::move(parsed).value(), {}};
  const std::string name(what);
  if (!envelope.root.is_object()) {
    return make_error("bad_message", name + " must be a JSON object, not " +
                                         json_type_name(envelope.root));
  }
  const json& method = member(envelope.root, "method");
  if (method.is_null()) return make_error("bad_message", name + " has no \"method\"");
  if (!method.is_string() || method.get_ref<const std::string&>().empty()) {
    return make_error("bad_message", name + " \"method\" must be a non-empty string");
  }
  envelope.method = method.get<std::string>();
  const json& payload = envelope.payload();
  if (!payload.is_null() && !payload.is_object()) {
    return make_error("bad_message", show_string(envelope.method) + " payload must be an object, not " +
                                         json_type_name(payload));
  }
  return envelope;
}

// A required string field (empty allowed only when `allow_empty`).
Result<std::string> required_string(const json& value, const std::string& what,
                                    bool allow_empty) {
  if (value.is_null()) return missing(what);
  if (!value.is_string()) return wrong_type(what, "a string", value);
  if (!allow_empty && value.get_ref<const std::string&>().empty()) {
    return make_error("bad_value", what + " must not be empty");
  }
  return value.get<std::string>();
}

Result<bool> optional_bool(const json& value, const std::string& what) {
  if (value.is_null()) return false;
  if (!value.is_boolean()) return wrong_type(what, "a boolean", value);
  return value.get<bool>();
}

// Ping / pong data: absent, a string or a number (see PingMessage).
Status check_ping_data(const json& data, const std::string& what) {
  if (data.is_null() || data.is_string() || data.is_number()) return ok_status();
  return wrong_type(what, "a string of epoch milliseconds", data);
}

// ---- writing frames -----------------------------------------------------------------------

// {"method":M,"data":D,"payload":P}, method first for readable logs; null parts left out.
std::string frame(std::string_view method, const json& data = nullptr,
                  const json& payload = nullptr) {
  std::string out = "{\"method\":" + to_json_text(json(std::string(method)));
  if (!data.is_null()) out += ",\"data\":" + to_json_text(data);
  if (!payload.is_null()) out += ",\"payload\":" + to_json_text(payload);
  out += '}';
  return out;
}

// ---- client messages ----------------------------------------------------------------------

Result<ClientMessage> parse_initiate(const Envelope& envelope) {
  constexpr std::string_view prefix = "initiate: ";
  const json& data = envelope.data();
  if (data.is_null()) return with_prefix(missing("data"), prefix);
  if (!data.is_object()) return with_prefix(wrong_type("data", "an object", data), prefix);
  auto key = required_string(member(data, "public_key"), "data.public_key", false);
  if (!key) return with_prefix(std::move(key).error(), prefix);
  auto request = parse_start_payload(data, "data.");
  if (!request) return with_prefix(std::move(request).error(), prefix);
  return ClientMessage{InitiateMessage{std::move(key).value(), std::move(request).value()}};
}

Result<ClientMessage> parse_ping(const Envelope& envelope) {
  if (auto s = check_ping_data(envelope.data(), "ping data"); !s) return std::move(s).error();
  return ClientMessage{PingMessage{envelope.data()}};
}

Result<ClientMessage> parse_text(const Envelope& envelope) {
  auto text = required_string(envelope.data(), "text data", false);
  if (!text) return std::move(text).error();
  return ClientMessage{TextMessage{std::move(text).value()}};
}

// ---- server messages ----------------------------------------------------------------------

Result<ServerMessage> parse_onready(const Envelope& envelope) {
  const json& payload = envelope.payload();
  OnReady ready;
  auto id = required_string(member(payload, "session_id"), "onready payload.session_id", false);
  if (!id) return std::move(id).error();
  ready.session_id = std::move(id).value();
  const json& from = member(payload, "continued_from");
  if (!from.is_null()) {
    auto s = required_string(from, "onready payload.continued_from", false);
    if (!s) return std::move(s).error();
    ready.continued_from = std::move(s).value();
  }
  const json& outcome = member(payload, "continuation");
  if (!outcome.is_null()) {
    if (!outcome.is_string()) {
      return wrong_type("onready payload.continuation", "a string", outcome);
    }
    ready.continuation = continuation_from_string(outcome.get_ref<const std::string&>());
    if (!ready.continuation) {
      return make_error("bad_value", "onready payload.continuation " +
                                         show_string(outcome.get_ref<const std::string&>()) +
                                         " is not one of resumed, continued, expired, not_found, opted_out");
    }
  }
  return ServerMessage{std::move(ready)};
}

template <class T>
Result<ServerMessage> parse_text_event(const Envelope& envelope) {
  auto text = required_string(envelope.data(), envelope.method + " data", true);
  if (!text) return std::move(text).error();
  auto is_final = optional_bool(member(envelope.payload(), "is_final"),
                                envelope.method + " payload.is_final");
  if (!is_final) return std::move(is_final).error();
  return ServerMessage{T{std::move(text).value(), is_final.value()}};
}

Result<ServerMessage> parse_session_ended(const Envelope& envelope) {
  const json& reason = member(envelope.payload(), "reason");
  OnSessionEnded ended;
  if (!reason.is_null()) {
    if (!reason.is_string()) return wrong_type("onsessionended payload.reason", "a string", reason);
    ended.reason = reason.get<std::string>();
  }
  return ServerMessage{std::move(ended)};
}

Result<ServerMessage> parse_onerror(const Envelope& envelope) {
  const json& data = envelope.data();
  if (data.is_null()) return missing("onerror data");
  if (!data.is_object()) return wrong_type("onerror data", "an object {code, message}", data);
  OnError error;
  const json& code = member(data, "code");
  if (code.is_null()) return missing("onerror data.code");
  if (code.is_string()) {
    error.code = code.get<std::string>();
  } else if (code.is_number_integer()) {
    error.code = code.is_number_unsigned() ? std::to_string(code.get<std::uint64_t>())
                                           : std::to_string(code.get<std::int64_t>());
  } else {
    return wrong_type("onerror data.code", "a string or an integer", code);
  }
  auto message = required_string(member(data, "message"), "onerror data.message", true);
  if (!message) return std::move(message).error();
  error.message = std::move(message).value();
  return ServerMessage{std::move(error)};
}

Result<ServerMessage> parse_known_server(const Envelope& e) {
  const std::string& m = e.method;
  if (m == "onready") return parse_onready(e);
  if (m == "ontranscript") return parse_text_event<OnTranscript>(e);
  if (m == "onresponsetext") return parse_text_event<OnResponseText>(e);
  if (m == "start_answering") return ServerMessage{StartAnswering{}};
  if (m == "clear") return ServerMessage{Clear{}};
  if (m == "pause") return ServerMessage{Pause{}};
  if (m == "unpause") return ServerMessage{Unpause{}};
  if (m == "ai_action") return ServerMessage{AiAction{e.data(), e.payload()}};
  if (m == "onsessionended") return parse_session_ended(e);
  if (m == "pong") {
    if (auto s = check_ping_data(e.data(), "pong data"); !s) return std::move(s).error();
    return ServerMessage{Pong{e.data()}};
  }
  if (m == "onerror") return parse_onerror(e);
  return ServerMessage{GenericServerMessage{m, e.data(), e.payload()}};
}

// Builders, one per alternative (std::visit picks the overload).
struct ServerBuilder {
  std::string operator()(const OnReady& m) const {
    json payload = {{"session_id", m.session_id}};
    if (m.continued_from) payload["continued_from"] = *m.continued_from;
    if (m.continuation) payload["continuation"] = std::string(to_string(*m.continuation));
    return frame("onready", nullptr, payload);
  }
  std::string operator()(const OnTranscript& m) const {
    return frame("ontranscript", m.text, json{{"is_final", m.is_final}});
  }
  std::string operator()(const OnResponseText& m) const {
    return frame("onresponsetext", m.text, json{{"is_final", m.is_final}});
  }
  std::string operator()(const StartAnswering&) const { return frame("start_answering"); }
  std::string operator()(const Clear&) const { return frame("clear"); }
  std::string operator()(const Pause&) const { return frame("pause"); }
  std::string operator()(const Unpause&) const { return frame("unpause"); }
  std::string operator()(const AiAction& m) const { return frame("ai_action", m.data, m.payload); }
  std::string operator()(const OnSessionEnded& m) const {
    return m.reason ? frame("onsessionended", nullptr, json{{"reason", *m.reason}})
                    : frame("onsessionended");
  }
  std::string operator()(const Pong& m) const { return frame("pong", m.data); }
  std::string operator()(const OnError& m) const {
    return frame("onerror", json{{"code", m.code}, {"message", m.message}});
  }
  std::string operator()(const GenericServerMessage& m) const {
    return frame(m.method, m.data, m.payload);
  }
};

struct ClientBuilder {
  std::string operator()(const InitiateMessage& m) const {
    return make_initiate(m.request, m.public_key);
  }
  std::string operator()(const PingMessage& m) const { return frame("ping", m.data); }
  std::string operator()(const TextMessage& m) const { return frame("text", m.text); }
};

}  // namespace

// ---- close codes ----------------------------------------------------------------------------

std::string_view describe_close_code(int code) noexcept {
  switch (code) {
    case 1000: return "normal closure";
    case 1001: return "going away";
    case 1005: return "no status code";
    case 1006: return "connection lost (no close frame)";
    case 1011: return "internal server error";
    case 4400: return "bad request";
    case 4401: return "bad public key";
    case 4403: return "origin not allowed";
    case 4404: return "unknown agent";
    case 4408: return "idle timeout";
    case 4413: return "message too large";
    case 4429: return "rate limited";
    default: return "unknown close code";
  }
}

bool is_refusal_close_code(int code) noexcept {
  return code == to_int(CloseCode::internal_error) || (code >= 4000 && code <= 4999);
}

CloseCode close_code_for_error(const Error& error) noexcept {
  if (error.code == "too_large" || error.code == "audio_too_large") return CloseCode::too_large;
  return CloseCode::bad_request;
}

// ---- audio ----------------------------------------------------------------------------------

Status validate_audio_frame(std::size_t size_bytes) {
  if (size_bytes == 0) {
    return make_error("audio_empty", "audio frame is empty: PCM16 frames need at least 2 bytes");
  }
  if (size_bytes > ProtocolLimits::max_audio_frame_bytes) {
    return make_error("audio_too_large",
                      "audio frame is " + std::to_string(size_bytes) +
                          " bytes, over the limit of " +
                          std::to_string(ProtocolLimits::max_audio_frame_bytes));
  }
  if (size_bytes % 2 != 0) {
    return make_error("audio_odd_length",
                      "audio frame is " + std::to_string(size_bytes) +
                          " bytes: PCM16 frames must have an even length");
  }
  return ok_status();
}

// ---- client messages ------------------------------------------------------------------------

Result<ClientMessage> parse_client_message(std::string_view text) {
  if (text.size() > ProtocolLimits::max_text_frame_bytes) {
    return make_error("too_large", "client message is " + std::to_string(text.size()) +
                                       " bytes, over the limit of " +
                                       std::to_string(ProtocolLimits::max_text_frame_bytes));
  }
  auto envelope = parse_envelope(text, "client message");
  if (!envelope) return std::move(envelope).error();
  const std::string& method = envelope->method;
  if (method == "initiate") return parse_initiate(*envelope);
  if (method == "ping") return parse_ping(*envelope);
  if (method == "text") return parse_text(*envelope);
  return make_error("unknown_method", "unknown client method " + show_string(method) +
                                          " (expected initiate, ping or text)");
}

std::string build_client_message(const ClientMessage& message) {
  return std::visit(ClientBuilder{}, message);
}

std::string build_ping(std::int64_t epoch_ms) { return frame("ping", std::to_string(epoch_ms)); }

std::string build_text(std::string_view text) { return frame("text", std::string(text)); }

std::string_view method_of(const ClientMessage& message) {
  static constexpr std::string_view names[] = {"initiate", "ping", "text"};
  static_assert(std::size(names) == std::variant_size_v<ClientMessage>);
  return names[message.index()];
}

// ---- server messages ------------------------------------------------------------------------

std::string_view to_string(Continuation c) noexcept {
  switch (c) {
    case Continuation::resumed: return "resumed";
    case Continuation::continued: return "continued";
    case Continuation::expired: return "expired";
    case Continuation::not_found: return "not_found";
    case Continuation::opted_out: return "opted_out";
  }
  return "unknown";
}

std::optional<Continuation> continuation_from_string(std::string_view s) noexcept {
  if (s == "resumed") return Continuation::resumed;
  if (s == "continued") return Continuation::continued;
  if (s == "expired") return Continuation::expired;
  if (s == "not_found") return Continuation::not_found;
  if (s == "opted_out") return Continuation::opted_out;
  return std::nullopt;
}

Result<ServerMessage> parse_server_message(std::string_view text) {
  auto envelope = parse_envelope(text, "server message");
  if (!envelope) return std::move(envelope).error();
  return parse_known_server(*envelope);
}

std::string build_server_message(const ServerMessage& message) {
  return std::visit(ServerBuilder{}, message);
}

std::string method_of(const ServerMessage& message) {
  static constexpr const char* names[] = {
      "onready", "ontranscript", "onresponsetext", "start_answering", "clear", "pause",
      "unpause", "ai_action",    "onsessionended", "pong",            "onerror"};
  // Every alternative but the last (the generic one, which carries its own name).
  static_assert(std::size(names) + 1 == std::variant_size_v<ServerMessage>);
  if (const auto* generic = std::get_if<GenericServerMessage>(&message)) return generic->method;
  return names[message.index()];
}

std::optional<std::int64_t> ping_epoch_ms(const json& data) noexcept {
  if (data.is_number_unsigned()) {
    const auto v = data.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return static_cast<std::int64_t>(v);
  }
  if (data.is_number_integer()) return data.get<std::int64_t>();
  if (!data.is_string()) return std::nullopt;
  const auto& s = data.get_ref<const std::string&>();
  if (s.empty() || s.size() > 18) return std::nullopt;  // 18 digits cannot overflow int64
  std::int64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

// ---- equality (for tests and round-trip checks) ---------------------------------------------

bool operator==(const OnReady& a, const OnReady& b) {
  return a.session_id == b.session_id && a.continued_from == b.continued_from &&
         a.continuation == b.continuation;
}
bool operator==(const OnTranscript& a, const OnTranscript& b) {
  return a.text == b.text && a.is_final == b.is_final;
}
bool operator==(const OnResponseText& a, const OnResponseText& b) {
  return a.text == b.text && a.is_final == b.is_final;
}
bool operator==(const StartAnswering&, const StartAnswering&) { return true; }
bool operator==(const Clear&, const Clear&) { return true; }
bool operator==(const Pause&, const Pause&) { return true; }
bool operator==(const Unpause&, const Unpause&) { return true; }
bool operator==(const AiAction& a, const AiAction& b) {
  return a.data == b.data && a.payload == b.payload;
}
bool operator==(const OnSessionEnded& a, const OnSessionEnded& b) { return a.reason == b.reason; }
bool operator==(const Pong& a, const Pong& b) { return a.data == b.data; }
bool operator==(const OnError& a, const OnError& b) {
  return a.code == b.code && a.message == b.message;
}
bool operator==(const GenericServerMessage& a, const GenericServerMessage& b) {
  return a.method == b.method && a.data == b.data && a.payload == b.payload;
}

}  // namespace parley
