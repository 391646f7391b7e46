// One SDK client in the browser, on the wasm side: the core's voice Call, the capture and
// playback chains, the level meters and VAD, the session store and the reconnect policy.
// The hand-written JS (wasm/js/client.mjs) owns the socket, the microphone, the AudioWorklet
// and the timers; it feeds what happened into a ClientCore and carries out what comes back:
// frames to send (take_outgoing) and events to emit (take_events, JSON in the Millis SDK's
// names, with the arguments the Millis SDK passes).
//
// Audio crosses the boundary through buffers allocated once here and addressed by heap
// offset (capture_buffer, render_buffer, incoming_buffer, meters): JS copies each block in or
// out once, and no audio passes through embind.
//
// Errors become one onerror event with a ClientError code (client_errors.hpp): a server's
// `onerror` frame is kept as the detail of the refusal its close code says; a socket that
// never opened is offline / server_gone; a ready call that drops is reconnected by the
// ReconnectPolicy with session_continuation of the session in use (onreconnecting, then
// onready again), and reported only when the policy gives up.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/audio/capture.hpp"
#include "parley/audio/playback.hpp"
#include "parley/audio/vad.hpp"
#include "parley/call.hpp"
#include "parley/client_errors.hpp"
#include "parley/json.hpp"
#include "parley/reconnect.hpp"
#include "parley/session_store.hpp"
#include "parley/start_request.hpp"
#include "parley/widget_state.hpp"

namespace parley::sdk {

// Index of each value in meters(): what the UI animates, refreshed per audio block.
enum Meter : std::size_t {
  meter_in_rms = 0,    // dBFS of what is sent (silence while muted)
  meter_in_peak,
  meter_out_rms,       // dBFS of what is played
  meter_out_peak,
  meter_speaking,      // 1 while the VAD hears the person (raw microphone, muted or not)
  meter_buffered_ms,   // agent audio queued in the core, not yet handed to the worklet
  meter_underruns,     // playback underruns counted by the core's queue
  meter_frames_sent,   // 20 ms frames sent on a socket
  meter_frames_dropped,  // frames captured while no socket was open (an outage)
  meter_count
};

struct ClientCoreConfig {
  std::string public_key;
  std::string integration_id;
  std::int64_t ping_interval_ms = 8000;
  ReconnectConfig reconnect;
  std::int64_t touch_interval_ms = 5000;  // at most one session-store write per interval
};

// The JSON config the JS passes: {publicKey, integrationId?, pingIntervalMs?, reconnect?:
// {initialDelayMs, maxDelayMs, multiplier, jitter, maxAttempts, maxOutageMs}}. Errors name
// the field (config_invalid, or reconnect_config_invalid).
Result<ClientCoreConfig> parse_client_config(std::string_view json_text);

// start()'s arguments as the Millis SDK takes them (JSON texts; "" for an absent one), read by
// the core's normalize_start. The SDK checks them with this before it asks for the
// microphone, and ClientCore::start reads them the same way.
Result<StartRequest> parse_start_arguments(std::string_view first_json, std::string_view metadata_json,
                                           std::string_view include_json);

class ClientCore {
 public:
  static constexpr std::size_t max_block = 4096;  // samples per capture / render call

  ClientCore(KeyValueStore& kv, ClientCoreConfig config);

  // ---- the call ----
  // start(first, metadata, includeMetadataInPrompt) as the Millis SDK takes them (JSON
  // texts; "null" for an absent argument). On error nothing starts.
  Status start(std::string_view first_json, std::string_view metadata_json,
               std::string_view include_json, std::int64_t now);
  // After onreconnecting's delay: starts the same call again, continuing the session in
  // use. False when there is nothing to reconnect (stopped meanwhile).
  bool reconnect(std::int64_t now);
  void on_open(std::int64_t now);
  void on_text(std::string_view text, std::int64_t now);
  void on_binary(std::size_t size, std::int64_t now);  // the bytes are in incoming_buffer()
  // `random01` picks the reconnect jitter; `online` is navigator.onLine.
  void on_close(int code, std::string_view reason, std::int64_t now, double random01,
                bool online);
  void on_socket_error(std::string_view what, std::int64_t now);
  Status send_text(std::string_view text, std::int64_t now);
  void set_muted(bool muted);
  void tick(std::int64_t now);
  void stop(std::int64_t now);
  // Activity outside the call (a REST exchange): the stored session's last activity is now.
  void note_activity(std::int64_t now) { touch(now, true); }
  bool wants_socket() const noexcept;  // a socket should be opened now (after start/reconnect)

  // ---- audio ----
  // Creates the chains for an AudioContext at `context_rate` (8..96 kHz).
  Status audio_start(int context_rate);
  void audio_stop();
  // `count` samples are in capture_buffer(): meters, VAD, capture chain, frames to send.
  // Returns the frames completed.
  std::size_t capture(std::size_t count, std::int64_t now);
  // Fills render_buffer() with `count` samples (a multiple of 128) from the playback queue.
  // Bit 0: the queue ran dry during this pull; bit 1: audio is still queued.
  int render(std::size_t count);
  // The worklet's ring has played out what it was given: an answering agent goes idle.
  void playback_drained(std::int64_t now);
  // Agent audio waiting in the core's playback queue, in samples at the context rate.
  std::size_t queued() const noexcept { return playback_ ? playback_->queue().buffered_samples() : 0; }

  float* capture_buffer() noexcept { return capture_in_.data(); }
  float* render_buffer() noexcept { return render_out_.data(); }
  std::uint8_t* incoming_buffer() noexcept { return incoming_.data(); }
  float* meters() noexcept { return meters_.data(); }

  // ---- drains ----
  std::vector<Outgoing> take_outgoing() { return call_.take_outgoing(); }
  std::string take_events();  // a JSON array of {type, args, ...}, in order

  // ---- state ----
  // The resume flow's outcome: how the session in use came to be, its id, the page's identity
  // fingerprint (stored with a call's session), and whether the store follows this page's
  // sessions (false for a URL sessionID's load: nothing it does is remembered).
  void set_origin(bool resumed, std::optional<std::string> continued_from, std::string session_id,
                  std::string identity, bool remember);
  // getState for this client's integration (with the live call) or another one.
  json state(std::string_view integration_id) const;
  json snapshot() const;

 private:
  void pump(std::int64_t now);  // moves the Call's events into events_, acting on them
  void handle_close(const CloseEvent& close, std::int64_t now);
  void emit(std::string type, json args = json::array());
  void emit_error(ClientError error, std::string_view detail);
  void touch(std::int64_t now, bool force);

  KeyValueStore& kv_;
  SessionStore store_;
  ClientCoreConfig config_;
  Call call_;
  ReconnectPolicy reconnect_;
  std::optional<StartRequest> request_;  // the call as started, for reconnects
  std::string session_id_;               // the session in use (from the last onready)
  bool stop_asked_ = false;
  bool was_ready_ = false;               // this connection reached onready
  bool reconnecting_ = false;            // between a loss and the next onready
  bool wants_socket_ = false;
  std::optional<Error> server_error_;    // the server's onerror, for the close after it
  double pending_random_ = 0.5;
  bool pending_online_ = true;
  SessionOrigin origin_;
  std::string identity_;                 // the page's identity fingerprint
  bool remember_ = true;                 // the store follows the session in use
  std::int64_t last_touch_ = 0;

  std::optional<audio::CaptureChain> capture_;
  std::optional<audio::PlaybackChain> playback_;
  std::optional<audio::Vad> vad_;
  bool muted_ = false;
  std::vector<float> capture_in_;
  std::vector<float> render_out_;
  std::vector<std::uint8_t> incoming_;
  std::array<float, meter_count> meters_{};

  json events_ = json::array();
};

}  // namespace parley::sdk
