// The speech of one call (issue 5), on the io thread, for any transport: the user's audio goes
// through the core's VAD (with a pre-roll kept so the recognizer hears the start of a word) to
// the recognizer on the speech workers, partial and final transcripts go to the call's
// SpeechOutput, and a finished turn (after the agent's response_delay) goes to the call.
// The agent's replies are synthesised on the workers, brought to 16 kHz by the core's
// resampler, and sent in 640-byte frames, one every 20 ms on an absolute schedule kept by the
// host's one FramePacer.
//
// Turn-taking: a user who starts speaking while the agent talks (or holds the floor: a reply
// is still being written) cuts it (barge-in) when the agent's flow.interruption.allowed and
// the reply is interruptible: synthesis stops, queued audio is dropped, the output is told to
// clear, each cut text learns how much of it was heard, and the call hears of it
// (Events::barge_in). This channel writes no wire format: the output serialises.
// Otherwise that utterance is ignored. Echo: while the agent talks (and echo_tail_ms after
// its last frame) the VAD's gate sits at the agent's own recent output level plus
// echo_gate_db, so the agent's voice coming back through a speaker is not heard as the user.
//
// Engine work never runs here: each utterance has at most one recognition job in flight
// (which serialises its stream), audio that arrives meanwhile is batched into the next job;
// each call has at most one synthesis in flight. A full worker queue keeps the audio and
// retries every 20 ms (counted as queue_full); a turn that still cannot be recognised is
// dropped and counted.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "parley/audio/vad.hpp"
#include "parley/host/config.hpp"
#include "parley/host/speech.hpp"
#include "parley/result.hpp"
#include "frame_pacer.hpp"
#include "synth_cache.hpp"

namespace parley::host {

// Where a speech channel's output goes: the call, which hands it to its transport.
class SpeechOutput {
 public:
  virtual ~SpeechOutput() = default;
  virtual void transcript(std::string_view text, bool final) = 0;  // what the user said
  virtual void audio_frame(std::string bytes) = 0;  // 640 bytes: 20 ms of PCM16 LE, 16 kHz
  virtual void clear() = 0;  // drop the agent audio queued for playback (barge-in)
  // The agent's audio holds here for a while (SayOptions::pause_after_ms): no frame comes
  // until unpause(), and what the client has queued should hold too.
  virtual void pause() = 0;
  virtual void unpause() = 0;
};

class SpeechChannel final : public FramePacer::Client,
                            public std::enable_shared_from_this<SpeechChannel> {
 public:
  struct Events {
    std::function<void(std::string text)> user_turn;  // what the user said
    std::function<void()> barge_in;  // the user cut the agent (after the cut texts' done)
    std::function<void()> activity;  // the user started speaking / the agent stopped
  };
  struct SayOptions {
    bool interruptible = true;  // false: barge-in does not cut it (the call's last words)
    // Played to the end (true, `heard` = the text) or cut (false, `heard` = the words of it
    // played before the cut: its frames sent against its length, cut back to a whole word).
    std::function<void(bool completed, const std::string& heard)> done;
    // After the text, the agent's audio holds this long (the output's pause(), then
    // unpause()) before anything queued after it: a custom LLM's `pause`.
    std::uint32_t pause_after_ms = 0;
  };
  using Clock = std::chrono::steady_clock;

  // `agent` outlives the channel. Hears when service.can_hear(agent), speaks when
  // service.can_speak(agent).
  // `line`: how this kind of line is heard (the browser's or the phone's settings); it
  // outlives the channel (the service's config).
  SpeechChannel(SpeechService& service, const AgentConfig& agent, const LineSpeechConfig& line,
                std::weak_ptr<SpeechOutput> output, Events events);
  ~SpeechChannel();
  SpeechChannel(const SpeechChannel&) = delete;
  SpeechChannel& operator=(const SpeechChannel&) = delete;

  bool hears() const { return hears_; }
  bool speaks() const { return speaks_; }
  // True from say() until the last frame of the last queued text went out, and while the
  // floor is held.
  bool talking() const { return floor_ || !segments_.empty(); }
  // The agent holds the floor while its reply is still being written (between sentences, or
  // before the first one is spoken): the user speaking then is a barge-in too.
  void hold_floor(bool held) { floor_ = held; }

  // User audio: PCM16 LE mono 16 kHz, an even number of bytes (checked by the caller).
  void on_audio(const std::uint8_t* data, std::size_t size);
  // Queues `text` to be spoken after whatever is being spoken, synthesised through the host's
  // SynthScheduler (cached, shared, bounded, fair). Empty text speaks nothing:
  // its done comes when everything queued before it has been said. Without a synthesizer,
  // or for empty text with nothing queued and no pause, done(true) comes at once (through the
  // io_context).
  void say(std::string text, SayOptions options);
  // Cuts everything being spoken or queued (as barge-in does, `clear` included, but not
  // counted as one): for the end of the call.
  void cut();
  // The call is gone: stops timers, cancels engine work; no event or callback follows.
  void stop();

 private:
  struct RecWork;
  struct RecResult;
  struct Utterance;
  struct Segment;

  void on_vad_start(std::uint64_t sample);
  void on_vad_end();
  void end_utterance();
  void kick(const std::shared_ptr<Utterance>& u);
  void on_rec_result(const std::shared_ptr<Utterance>& u, RecResult result);
  void queue_turn(const std::string& text);
  void deliver_turn();
  void arm_retry();

  void start_synth();
  void on_synth_audio(std::uint64_t segment_id, Pcm samples);
  void on_synth_done(std::uint64_t segment_id, Status status);
  void start_pacing();
  bool on_frame_due() override;  // FramePacer::Client: every 20 ms while speaking
  void send_frame();
  void end_pause();
  void complete_front();
  void cut_agent(bool barge_in);
  std::string heard_of(const Segment& segment) const;
  float echo_gate_dbfs(Clock::time_point now);
  Segment* find_segment(std::uint64_t id);

  SpeechService& service_;
  const AgentConfig& agent_;
  const LineSpeechConfig& line_;
  std::weak_ptr<SpeechOutput> output_;
  Events events_;
  bool floor_ = false;
  bool hears_ = false;
  bool speaks_ = false;
  bool stopped_ = false;
  std::string voice_;

  // ---- listening
  std::optional<audio::Vad> vad_;
  std::vector<std::int16_t> ring_;   // the last ring_.size() input samples (pre-roll)
  std::uint64_t samples_in_ = 0;     // input samples so far (the VAD's clock)
  std::shared_ptr<Utterance> current_;
  std::vector<std::shared_ptr<Utterance>> finishing_;  // ended, waiting for their final
  bool ignoring_ = false;  // until the VAD's next speech_end (not listened to)
  std::uint64_t next_utterance_ = 1;
  std::string pending_turn_;
  RecognizerAdaptation adaptation_;  // this caller's, from its last utterance
  boost::asio::steady_timer turn_timer_;
  boost::asio::steady_timer retry_timer_;
  bool retry_armed_ = false;

  // ---- speaking
  std::deque<Segment> segments_;     // front: being played
  std::uint64_t next_segment_ = 1;
  bool synth_in_flight_ = false;     // one synthesis at a time per call (fairness: synth_scheduler)
  // Agent audio waiting to be sent: pieces of shared 16 kHz PCM (a cached synthesis is never
  // copied), each segment's audio padded with silence to whole 20 ms frames.
  struct Queued {
    std::uint64_t segment;
    Pcm pcm;
    std::size_t at;  // the next sample to send
  };
  std::deque<Queued> audio_;
  std::size_t audio_samples_ = 0;
  bool pacing_ = false;    // sending a frame every 20 ms (the host's FramePacer calls)
  bool in_pacer_ = false;  // registered with the FramePacer (until a call finds nothing)
  bool paused_ = false;  // between the output's pause() and unpause()
  boost::asio::steady_timer hold_timer_;  // ends a pause (SayOptions::pause_after_ms)
  Clock::time_point last_frame_at_{};
  struct SentLevel {
    Clock::time_point at;
    float rms_dbfs;
  };
  std::deque<SentLevel> sent_levels_;  // the last 500 ms of frames sent
};

}  // namespace parley::host
