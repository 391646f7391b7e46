// The host's speech (issue 5): the engines (a Recognizer and a Synthesizer), the worker
// threads they run on, the agents' hints and voices, and the parley_speech_* metrics. One per
// host, made by the application; each voice call talks through a SpeechChannel
// (src/speech/speech_channel.hpp) that uses it.
//
// Threads: create(), the accessors and metrics_text() are for the io thread; post() may be
// called from any thread; the counters are atomic because workers bump them.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "parley/host/config.hpp"
#include "parley/host/recognizer.hpp"
#include "parley/host/synthesizer.hpp"

namespace parley::host {

class WorkerPool;
class SynthScheduler;
class FramePacer;

struct SpeechCounters {
  std::atomic<std::uint64_t> utterances{0};        // user utterances the VAD found
  std::atomic<std::uint64_t> turns{0};             // final transcripts with words
  std::atomic<std::uint64_t> empty_utterances{0};  // finals with nothing recognised
  std::atomic<std::uint64_t> partials{0};          // ontranscript is_final:false sent
  std::atomic<std::uint64_t> barge_ins{0};
  std::atomic<std::uint64_t> recognizer_us{0};     // worker time in the recognizer
  std::atomic<std::uint64_t> recognized_samples{0};
  std::atomic<std::uint64_t> final_us_sum{0};      // end of speech (VAD) -> final transcript
  std::atomic<std::uint64_t> final_count{0};
  std::atomic<std::uint64_t> synth_us{0};          // worker time in the synthesizer
  std::atomic<std::uint64_t> synth_samples{0};     // at the wire rate (16 kHz)
  std::atomic<std::uint64_t> replies_spoken{0};
  std::atomic<std::uint64_t> frames_out{0};        // agent audio frames sent
  std::atomic<std::uint64_t> queue_full{0};        // jobs refused by the full worker queue
  std::atomic<std::uint64_t> recognizer_busy{0};   // opens refused: every decoder in use
  std::atomic<std::uint64_t> dropped_utterances{0};  // not recognised (busy / errors)
  std::atomic<std::uint64_t> errors{0};            // engine errors of any kind
  std::atomic<std::uint64_t> synth_requests{0};     // syntheses asked for (one per reply)
  std::atomic<std::uint64_t> synth_cache_hits{0};   // ... answered from the synthesis cache
  std::atomic<std::uint64_t> synth_shared{0};       // ... joined an identical queued/running one
  std::atomic<std::uint64_t> synth_backlog_full{0};  // ... refused: the backlog was full
};

class SpeechService {
 public:
  // The host's engines: pocketsphinx and espeak-ng (nullptr engines when the config turns
  // speech off). Logs plainly, once, what cannot work and why (a missing model, an unknown
  // voice, hint words the dictionary lacks); such calls go text-only, the host still starts.
  static std::unique_ptr<SpeechService> create(boost::asio::io_context& io, const HostConfig& config);
  // With engines of the operator's choice; either may be null (= not available).
  SpeechService(boost::asio::io_context& io, const HostConfig& config,
                std::unique_ptr<Recognizer> recognizer, std::unique_ptr<Synthesizer> synthesizer);
  // Stops the workers: running jobs finish (syntheses stop at their next buffer), queued
  // ones are dropped.
  ~SpeechService();
  SpeechService(const SpeechService&) = delete;
  SpeechService& operator=(const SpeechService&) = delete;

  const SpeechConfig& config() const { return config_; }
  boost::asio::io_context& io() { return io_; }
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }

  // Whether a call with `agent` hears the user (speech on, recognizer working, an English
  // agent) / speaks its replies (speech on, synthesizer working, voice.provider not "none").
  bool can_hear(const AgentConfig& agent) const;
  bool can_speak(const AgentConfig& agent) const;
  // Why can_hear is false, for the agent's notice ("" when it is true).
  std::string hearing_problem(const AgentConfig& agent) const;
  const RecognitionHints& hints(const AgentConfig& agent) const;
  // The espeak-ng voice for `agent`: voice.voice_id, else its language lowercased; "en-us"
  // when that voice does not exist (reported at start).
  std::string voice(const AgentConfig& agent) const;

  Recognizer* recognizer() { return recognizer_.get(); }
  Synthesizer* synthesizer() { return synthesizer_.get(); }

  // Runs `job` on a worker. False when queue_limit jobs are waiting (counted as queue_full)
  // or the service is stopping; the job is then dropped.
  bool post(std::function<void()> job);
  // Every synthesis goes through this one queue: cached, shared, bounded, fair (see
  // speech/synth_scheduler.hpp). Null when nothing can speak.
  SynthScheduler* synth() { return synth_.get(); }
  // The one 20 ms clock of every call's outgoing audio (speech/frame_pacer.hpp).
  FramePacer& pacer() { return *pacer_; }

  SpeechCounters& counters() { return counters_; }
  // Prometheus lines, names prefixed parley_speech_.
  std::string metrics_text() const;

 private:
  boost::asio::io_context& io_;
  SpeechConfig config_;
  std::unique_ptr<Recognizer> recognizer_;
  std::unique_ptr<Synthesizer> synthesizer_;
  bool hearing_ = false;
  bool speaking_ = false;
  std::string hearing_problem_;
  std::map<std::string, RecognitionHints> hints_;  // by agent id
  std::map<std::string, std::string> voices_;      // by agent id
  std::atomic<bool> stopping_{false};
  SpeechCounters counters_;
  std::shared_ptr<SynthScheduler> synth_;  // its jobs' callbacks hold it weakly
  std::unique_ptr<FramePacer> pacer_;
  std::unique_ptr<WorkerPool> workers_;  // last: destroyed (joined) first
};

}  // namespace parley::host
