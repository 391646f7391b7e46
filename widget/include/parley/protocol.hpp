// The voice WebSocket protocol (DESIGN §3, Millis-compatible), both directions, sans-I/O:
// text frames are parsed into small structs and built back into one-line JSON texts; binary
// frames (PCM16 LE mono 16 kHz audio) are checked by validate_audio_frame. The widget uses the
// server-to-client half, the host the client-to-server half; both build what the other parses.
//
// Every parse function answers with a value or an Error and never throws. Error codes:
//   bad_json, json_too_deep    the text is not JSON / nests too deep (from parse_json)
//   bad_message                not an object, or `method` missing / not a non-empty string,
//                              or `payload` present but not an object
//   unknown_method             (client messages only) a method the server does not know
//   missing_field, wrong_type, bad_value   a field of a known message (the message names it)
//   too_large                  a client text frame over ProtocolLimits::max_text_frame_bytes
//   and, for `initiate`, the codes of parse_start_payload / validate_metadata.
// close_code_for_error() maps them to the DESIGN close codes (4400 / 4413).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "parley/json.hpp"
#include "parley/result.hpp"
#include "parley/start_request.hpp"

namespace parley {

struct ProtocolLimits {
  static constexpr std::size_t max_audio_frame_bytes = 64 * 1024;  // DESIGN §3
  // Ours: a client text frame (an initiate with an agent config and 8 KiB of metadata fits
  // many times over). Server frames are not limited here: the client trusts its server that far.
  static constexpr std::size_t max_text_frame_bytes = 64 * 1024;
  static constexpr std::size_t max_json_depth = 64;
};

// ---- Close codes (DESIGN §3) ----------------------------------------------------------

enum class CloseCode : std::uint16_t {
  normal = 1000,              // the call ended normally (client stop, session ended)
  going_away = 1001,          // page unloading / server shutting down
  internal_error = 1011,      // the server failed
  bad_request = 4400,         // a malformed or invalid message; the reason names the field
  bad_public_key = 4401,      // unknown or revoked public key
  origin_not_allowed = 4403,  // the page's Origin is not allowed for this key
  unknown_agent = 4404,       // no such agent
  idle_timeout = 4408,        // nothing received for too long
  too_large = 4413,           // a frame over the size limits
  rate_limited = 4429,        // too many calls / messages
};

constexpr std::uint16_t to_int(CloseCode code) noexcept { return static_cast<std::uint16_t>(code); }

// "bad request", "origin not allowed", ... for a known code; "unknown close code" otherwise.
std::string_view describe_close_code(int code) noexcept;
// True for the server's refusals (4400..4429 above and 1011): the call failed, not ended.
bool is_refusal_close_code(int code) noexcept;
// The close code a server should use after `error` from parse_client_message /
// validate_audio_frame: too_large for size errors, bad_request otherwise.
CloseCode close_code_for_error(const Error& error) noexcept;

// ---- Binary audio frames ----------------------------------------------------------------

// A PCM16 frame must be 0 < size <= 64 KiB and of even length. Error codes: audio_empty,
// audio_odd_length, audio_too_large.
Status validate_audio_frame(std::size_t size_bytes);

// ---- Client to server -------------------------------------------------------------------

struct InitiateMessage {
  std::string public_key;  // non-empty
  StartRequest request;
  friend bool operator==(const InitiateMessage& a, const InitiateMessage& b) {
    return a.public_key == b.public_key && a.request == b.request;
  }
};
// `data` is echoed by the server's pong. The Millis SDK sends epoch ms as a string; its docs
// also show a bare {"method":"ping"}, so absent data and a number are accepted too.
struct PingMessage {
  json data;  // null (absent), a string, or a number
  friend bool operator==(const PingMessage& a, const PingMessage& b) { return a.data == b.data; }
};
// Extension: a typed user message, for chat without a microphone.
struct TextMessage {
  std::string text;  // non-empty
  friend bool operator==(const TextMessage& a, const TextMessage& b) { return a.text == b.text; }
};
using ClientMessage = std::variant<InitiateMessage, PingMessage, TextMessage>;

Result<ClientMessage> parse_client_message(std::string_view text);
std::string build_client_message(const ClientMessage& message);
std::string build_ping(std::int64_t epoch_ms);  // {"method":"ping","data":"<epoch ms>"}
std::string build_text(std::string_view text);   // {"method":"text","data":"..."}
// (build the initiate with make_initiate from start_request.hpp)

// ---- Server to client -------------------------------------------------------------------

// DESIGN §3: resumed = the same call came back (same session id); continued = a new session
// continuing one still inside its window; expired = continuing one past it.
enum class Continuation { resumed, continued, expired, not_found, opted_out };
std::string_view to_string(Continuation c) noexcept;
std::optional<Continuation> continuation_from_string(std::string_view s) noexcept;

struct OnReady {
  std::string session_id;                     // payload.session_id, non-empty
  std::optional<std::string> continued_from;  // payload.continued_from
  std::optional<Continuation> continuation;   // payload.continuation
};
struct OnTranscript {  // the user's speech
  std::string text;    // data
  bool is_final = false;  // payload.is_final (absent = false)
};
struct OnResponseText {  // the agent's words
  std::string text;
  bool is_final = false;
};
struct StartAnswering {};
struct Clear {};    // barge-in: drop queued playback
struct Pause {};    // pause playback
struct Unpause {};  // resume playback
struct AiAction {   // a function call the agent made; shape is the server's business
  json data;
  json payload;
};
struct OnSessionEnded {
  std::optional<std::string> reason;  // payload.reason
};
struct Pong {
  json data;  // the ping's data, echoed
};
struct OnError {  // extension, sent before a refusal close
  std::string code;     // data.code (a number is accepted and kept as its decimal text)
  std::string message;  // data.message
};
// Any other method: passed through for the application (Millis emits it under its name).
struct GenericServerMessage {
  std::string method;
  json data;
  json payload;  // null or an object
};

using ServerMessage =
    std::variant<OnReady, OnTranscript, OnResponseText, StartAnswering, Clear, Pause, Unpause,
                 AiAction, OnSessionEnded, Pong, OnError, GenericServerMessage>;

bool operator==(const OnReady& a, const OnReady& b);
bool operator==(const OnTranscript& a, const OnTranscript& b);
bool operator==(const OnResponseText& a, const OnResponseText& b);
bool operator==(const StartAnswering&, const StartAnswering&);
bool operator==(const Clear&, const Clear&);
bool operator==(const Pause&, const Pause&);
bool operator==(const Unpause&, const Unpause&);
bool operator==(const AiAction& a, const AiAction& b);
bool operator==(const OnSessionEnded& a, const OnSessionEnded& b);
bool operator==(const Pong& a, const Pong& b);
bool operator==(const OnError& a, const OnError& b);
bool operator==(const GenericServerMessage& a, const GenericServerMessage& b);

// The method name a message travels under ("onready", "pong", or the generic one's own).
std::string method_of(const ServerMessage& message);
std::string_view method_of(const ClientMessage& message);

Result<ServerMessage> parse_server_message(std::string_view text);
std::string build_server_message(const ServerMessage& message);

// The epoch milliseconds carried by ping/pong data ("1712345678901" or 1712345678901), if any.
std::optional<std::int64_t> ping_epoch_ms(const json& data) noexcept;

}  // namespace parley
