// One voice call as a sans-I/O state machine (DESIGN §3). The application (the wasm bridge,
// a native client, a test) owns the socket, the microphone, the speaker and the clock: it
// feeds what happened into a Call - socket opened, a frame arrived, a microphone frame is
// ready, time passed - and drains what the Call wants done (frames to send, a socket to
// close) and what it has to say (events for the UI). Time is milliseconds since the Unix
// epoch (Date.now()), because ping data carries it (DESIGN §3) and RTT is read back from it.
//
// Behaviour, as the Millis web SDK does it unless noted:
//  - connection: idle -> connecting (start) -> open (on_open; `initiate` is queued) -> ready
//    -> closing (stop) -> closed; `failed` when the socket closes before it opened, or with a
//    refusal code (1011, 4xxx), or without a close frame (1006) while it was not closing.
//  - ready = the server's `onready` arrived AND the first microphone frame was sent, in either
//    order; `onready` is raised then, with the server's payload. (The SDK counts a frame it
//    dropped before the socket opened; we count only frames really sent.)
//  - agent state: idle -> prepare_answer (start_answering) -> answer (agent audio) -> idle on
//    `clear` or when the application reports playback drained; `pause` -> pause, `unpause`
//    -> answer. Agent audio while idle also means answer (the SDK keeps idle there; DESIGN
//    §3 says first agent audio means answer). onagentstate is raised on changes only.
//  - latency = ms from `start_answering` to the first agent audio after it: one onlatency per
//    start_answering; a `clear` in between cancels it (the SDK would measure from the stale
//    start_answering).
//  - microphone frames are sent only while the socket is open; muted frames go out as silence
//    of the same length (the server's VAD needs the stream to keep flowing).
//  - a ping {"method":"ping","data":"<epoch ms>"} every CallConfig::ping_interval_ms while
//    open (the SDK pings every 1000 frames of 8 ms); a pong raises onrtt = now - data.
//  - server `clear` / `pause` / `unpause` also raise a playback command for the speaker
//    (in the SDK its own audio service obeys them; here the application does).
//  - a malformed server frame raises onerror (source protocol) and is otherwise ignored: the
//    call goes on (DESIGN §9).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "parley/json.hpp"
#include "parley/protocol.hpp"
#include "parley/result.hpp"
#include "parley/start_request.hpp"

namespace parley {

enum class ConnectionState { idle, connecting, open, ready, closing, closed, failed };
enum class AgentState { idle, prepare_answer, answer, pause };

std::string_view to_string(ConnectionState s) noexcept;  // "idle", "connecting", ...
std::string_view to_string(AgentState s) noexcept;       // "idle", "prepare_answer", ...

struct CallConfig {
  std::string public_key;              // sent in `initiate`
  std::int64_t ping_interval_ms = 8000;  // 0 = never ping
};

// What the application must do with the socket.
struct Outgoing {
  enum class Kind { text, binary, close };
  Kind kind = Kind::text;
  std::string text;                  // Kind::text: one JSON frame
  std::vector<std::uint8_t> audio;   // Kind::binary: PCM16 LE mono 16 kHz
  int close_code = 1000;             // Kind::close: code and reason to close with
  std::string close_reason;
};

// ---- events (the event_name() of each is what the Millis SDK would emit) ----
struct OpenEvent {};                   // "onopen"
struct ReadyEvent {                    // "onready"
  std::string session_id;
  std::optional<std::string> continued_from;
  std::optional<Continuation> continuation;
};
struct SessionEndedEvent {             // "onsessionended"
  std::optional<std::string> reason;
};
struct AudioEvent {                    // "onaudio": agent audio to play
  std::vector<std::uint8_t> pcm;
};
struct ResponseTextEvent {             // "onresponsetext"
  std::string text;
  bool is_final = false;
};
struct TranscriptEvent {               // "ontranscript"
  std::string text;
  bool is_final = false;
};
struct AgentStateEvent {               // "onagentstate"
  AgentState state = AgentState::idle;
};
struct LatencyEvent {                  // "onlatency"
  std::int64_t ms = 0;
};
struct RttEvent {                      // "onrtt"
  std::int64_t ms = 0;
};
struct AiActionEvent {                 // "ai_action"
  json data;
  json payload;
};
enum class PlaybackCommand { clear, pause, unpause };
struct PlaybackEvent {                 // "playback": obey it in the speaker's queue
  PlaybackCommand command = PlaybackCommand::clear;
};
struct CloseEvent {                    // "onclose"
  int code = 1000;
  std::string reason;
  bool failed = false;                 // the connection ended in ConnectionState::failed
};
struct ErrorEvent {                    // "onerror"
  enum class Source { server, protocol, socket };
  Source source = Source::server;      // server: an `onerror` message; protocol: a bad frame
  Error error;
};
struct MessageEvent {                  // "onmessage": a method this client does not know
  std::string method;
  json data;
  json payload;
};

using CallEvent = std::variant<OpenEvent, ReadyEvent, SessionEndedEvent, AudioEvent,
                               ResponseTextEvent, TranscriptEvent, AgentStateEvent, LatencyEvent,
                               RttEvent, AiActionEvent, PlaybackEvent, CloseEvent, ErrorEvent,
                               MessageEvent>;

std::string_view event_name(const CallEvent& event) noexcept;

struct CallSnapshot {
  ConnectionState connection = ConnectionState::idle;
  AgentState agent = AgentState::idle;
  bool muted = false;
  std::string session_id;  // from onready; empty before
  std::optional<std::string> continued_from;
  std::optional<Continuation> continuation;
  std::optional<std::int64_t> last_latency_ms;
  std::optional<std::int64_t> last_rtt_ms;
  std::optional<int> close_code;  // once closed / failed
};

class Call {
 public:
  explicit Call(CallConfig config = {});

  // Begins a call (from idle, closed or failed): the application should now open the socket.
  // Error code call_busy when a call is already under way.
  Status start(StartRequest request, std::int64_t now);
  // The socket opened: raises onopen and queues `initiate`.
  void on_open(std::int64_t now);
  // A text / binary frame arrived from the server.
  void on_text(std::string_view text, std::int64_t now);
  void on_binary(const std::uint8_t* bytes, std::size_t size, std::int64_t now);
  void on_binary(const std::vector<std::uint8_t>& bytes, std::int64_t now) {
    on_binary(bytes.data(), bytes.size(), now);
  }
  // The socket reported an error (a close always follows in browsers): raises onerror.
  void on_socket_error(std::string_view what, std::int64_t now);
  // The socket closed (by either side): raises onclose; the agent goes idle.
  void on_close(int code, std::string_view reason, std::int64_t now);

  // A PCM16 microphone frame. Queued to send while open (silence of the same length when
  // muted); dropped before the socket opens. Errors: the validate_audio_frame codes.
  Status on_audio_captured(const std::uint8_t* pcm, std::size_t size, std::int64_t now);
  Status on_audio_captured(const std::vector<std::uint8_t>& pcm, std::int64_t now) {
    return on_audio_captured(pcm.data(), pcm.size(), now);
  }
  // A typed message (the `text` extension). Error codes: not_connected, bad_value (empty).
  Status send_text(std::string_view text, std::int64_t now);
  // The application's playback queue ran dry: an answering agent goes back to idle.
  void on_playback_drained(std::int64_t now);

  void mute() noexcept { muted_ = true; }
  void unmute() noexcept { muted_ = false; }
  // Time passes: sends a ping when one is due.
  void tick(std::int64_t now);
  // Ends the call: queues a close (1000) unless the socket is already closed or never asked.
  void stop(std::int64_t now);

  // Drain what happened since the last call, in order.
  std::vector<Outgoing> take_outgoing();
  std::vector<CallEvent> take_events();

  CallSnapshot snapshot() const;
  ConnectionState connection_state() const noexcept { return connection_; }
  AgentState agent_state() const noexcept { return agent_; }

 private:
  void handle(const ServerMessage& message, std::int64_t now);
  void handle_ready(const OnReady& ready);
  void set_agent_state(AgentState state);
  void maybe_become_ready();
  void send_text_frame(std::string text);
  void raise(CallEvent event) { events_.push_back(std::move(event)); }
  bool socket_open() const noexcept {
    return connection_ == ConnectionState::open || connection_ == ConnectionState::ready;
  }
  bool receiving() const noexcept { return socket_open() || connection_ == ConnectionState::closing; }

  CallConfig config_;
  StartRequest request_;
  ConnectionState connection_ = ConnectionState::idle;
  AgentState agent_ = AgentState::idle;
  bool muted_ = false;
  std::optional<OnReady> ready_payload_;  // the server's onready, kept until ready
  bool sent_first_audio_ = false;
  std::optional<std::int64_t> answering_since_;  // start_answering time, until first audio
  std::int64_t last_ping_at_ = 0;
  std::optional<std::int64_t> last_latency_ms_;
  std::optional<std::int64_t> last_rtt_ms_;
  std::optional<int> close_code_;
  std::vector<Outgoing> outgoing_;
  std::vector<CallEvent> events_;
};

}  // namespace parley
