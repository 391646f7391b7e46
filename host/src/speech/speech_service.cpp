#include "parley/host/speech.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <set>
#include <utility>

#include "parley/host/log.hpp"
#include "frame_pacer.hpp"
#include "synth_scheduler.hpp"
#include "worker_pool.hpp"

namespace parley::host {
namespace {

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Splits on anything but letters, digits and apostrophes ("Parley's demo" -> parley's, demo).
void add_words(const std::string& text, std::set<std::string>& out) {
  std::string word;
  auto flush = [&] {
    while (!word.empty() && word.back() == '\'') word.pop_back();
    while (!word.empty() && word.front() == '\'') word.erase(word.begin());
    if (!word.empty()) out.insert(lower(word));
    word.clear();
  };
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '\'' || u >= 0x80) {
      word += c;
    } else {
      flush();
    }
  }
  flush();
}

bool english(const AgentConfig& agent) {
  const std::string lang = lower(agent.language);
  return lang == "en" || lang.rfind("en-", 0) == 0 || lang.rfind("en_", 0) == 0;
}

void add(std::string& out, const char* name, const char* type, const char* help, double value) {
  out += std::string("# HELP parley_speech_") + name + ' ' + help + "\n# TYPE parley_speech_" +
         name + ' ' + type + "\nparley_speech_" + name + ' ';
  // Whole numbers as integers, the rest with microsecond precision.
  if (value == static_cast<double>(static_cast<std::uint64_t>(value))) {
    out += std::to_string(static_cast<std::uint64_t>(value));
  } else {
    out += std::to_string(value);
  }
  out += '\n';
}

}  // namespace

RecognitionHints hints_for_agent(const AgentConfig& agent) {
  std::set<std::string> words;
  for (const auto& rule : agent.rules)
    for (const auto& w : rule.words) add_words(w, words);
  for (const auto& k : agent.custom_vocabulary) add_words(k, words);
  return RecognitionHints{{words.begin(), words.end()}};
}

std::unique_ptr<SpeechService> SpeechService::create(boost::asio::io_context& io,
                                                     const HostConfig& config) {
  if (!config.server.speech.enabled)
    return std::make_unique<SpeechService>(io, config, nullptr, nullptr);
  return std::make_unique<SpeechService>(io, config,
                                         make_pocketsphinx_recognizer(config.server.speech),
                                         make_espeak_synthesizer());
}

SpeechService::SpeechService(boost::asio::io_context& io, const HostConfig& config,
                             std::unique_ptr<Recognizer> recognizer,
                             std::unique_ptr<Synthesizer> synthesizer)
    : io_(io),
      config_(config.server.speech),
      recognizer_(std::move(recognizer)),
      synthesizer_(std::move(synthesizer)),
      pacer_(std::make_unique<FramePacer>(io)) {
  if (!config_.enabled) {
    log_event(LogLevel::info, "speech.off",
              "server.speech.enabled is false: voice calls are text-only");
    hearing_problem_ = "speech is turned off on this host";
    return;
  }
  if (!recognizer_) {
    hearing_problem_ = "this host has no speech recognizer";
  } else if (auto ok = recognizer_->check(); !ok) {
    hearing_problem_ = "speech recognition is unavailable on this host";
    log_event(LogLevel::error, "speech.recognizer_unavailable",
              std::string(recognizer_->name()) + ": " + ok.error().message +
                  "; calls will not hear the user (typed text still works)");
  } else {
    hearing_ = true;
  }
  if (synthesizer_) {
    if (auto ok = synthesizer_->check(); !ok) {
      log_event(LogLevel::error, "speech.synthesizer_unavailable",
                std::string(synthesizer_->name()) + ": " + ok.error().message +
                    "; agents will answer in text only");
    } else {
      speaking_ = true;
    }
  }

  // Per agent: hints and voice, with what cannot work reported now rather than per call.
  std::set<std::string> all_words;
  for (const auto& agent : config.agents) {
    RecognitionHints h = config_.keyword_hints ? hints_for_agent(agent) : RecognitionHints{};
    all_words.insert(h.words.begin(), h.words.end());
    hints_[agent.id] = std::move(h);
    if (hearing_ && !english(agent))
      log_event(LogLevel::warn, "speech.language",
                "agent=" + agent.id + " language=" + agent.language +
                    ": the recognizer's model is English only; this agent's calls will not "
                    "hear the user");
    if (!speaking_ || agent.voice.provider == "none") continue;
    std::string v = agent.voice.voice_id.empty() ? lower(agent.language) : agent.voice.voice_id;
    if (auto ok = synthesizer_->check_voice(v); !ok) {
      log_event(LogLevel::warn, "speech.voice",
                "agent=" + agent.id + ": " + ok.error().message + "; speaking with en-us");
      v = "en-us";
    }
    voices_[agent.id] = v;
  }
  if (hearing_ && !all_words.empty()) {
    const auto unknown = recognizer_->unknown_words(RecognitionHints{{all_words.begin(), all_words.end()}});
    if (!unknown.empty()) {
      std::string list;
      for (const auto& w : unknown) list += (list.empty() ? "" : ", ") + w;
      log_event(LogLevel::warn, "speech.hint_words",
                "not in the recognizer's dictionary, so they cannot be heard: " + list);
    }
  }

  workers_ = std::make_unique<WorkerPool>(config_.workers, config_.queue_limit);
  if (speaking_)
    synth_ = std::make_shared<SynthScheduler>(
        *this, static_cast<std::size_t>(config_.synth_cache_mb) * 1024 * 1024, config_.synth_backlog);
  log_event(LogLevel::info, "speech.on",
            "recognizer=" + std::string(hearing_ ? recognizer_->name() : "none") +
                " synthesizer=" + std::string(speaking_ ? synthesizer_->name() : "none") +
                " workers=" + std::to_string(config_.workers) +
                " hangover_ms=" + std::to_string(config_.browser.vad_hangover_ms) +
                " (phone " + std::to_string(config_.phone.vad_hangover_ms) + ")");
  if (hearing_) {
    // Decoders load ahead of the first call, off the workers (speech.ready is logged then).
    RecognitionHints first = config.agents.empty() ? RecognitionHints{} : hints_[config.agents[0].id];
    if (auto warmed = recognizer_->warm_up(first); !warmed)
      log_event(LogLevel::error, "speech.warm_up_failed", warmed.error().message);
  }
}

SpeechService::~SpeechService() {
  stopping_.store(true);
  workers_.reset();
  synth_.reset();
}

bool SpeechService::can_hear(const AgentConfig& agent) const { return hearing_ && english(agent); }

bool SpeechService::can_speak(const AgentConfig& agent) const {
  return speaking_ && agent.voice.provider != "none" && voices_.count(agent.id) != 0;
}

std::string SpeechService::hearing_problem(const AgentConfig& agent) const {
  if (!hearing_) return hearing_problem_;
  if (!english(agent)) return "speech recognition here understands English only";
  return {};
}

const RecognitionHints& SpeechService::hints(const AgentConfig& agent) const {
  static const RecognitionHints none;
  auto it = hints_.find(agent.id);
  return it == hints_.end() ? none : it->second;
}

std::string SpeechService::voice(const AgentConfig& agent) const {
  auto it = voices_.find(agent.id);
  return it == voices_.end() ? std::string("en-us") : it->second;
}

bool SpeechService::post(std::function<void()> job) {
  if (!workers_ || stopping()) return false;
  if (!workers_->post(std::move(job))) {
    ++counters_.queue_full;
    return false;
  }
  return true;
}

std::string SpeechService::metrics_text() const {
  std::string out;
  const SpeechCounters& c = counters_;
  add(out, "enabled", "gauge", "1 when speech is on, 0 when calls are text-only.", config_.enabled ? 1 : 0);
  add(out, "recognizer_up", "gauge", "1 when the recognizer works (its model is present).", hearing_ ? 1 : 0);
  add(out, "synthesizer_up", "gauge", "1 when the synthesizer works.", speaking_ ? 1 : 0);
  add(out, "utterances_total", "counter", "User utterances found by the VAD.", static_cast<double>(c.utterances.load()));
  add(out, "turns_total", "counter", "User turns recognised with words.", static_cast<double>(c.turns.load()));
  add(out, "empty_utterances_total", "counter", "Utterances in which nothing was recognised.", static_cast<double>(c.empty_utterances.load()));
  add(out, "dropped_utterances_total", "counter", "Utterances lost (decoders busy, queue full, engine errors).", static_cast<double>(c.dropped_utterances.load()));
  add(out, "partials_total", "counter", "Partial transcripts sent.", static_cast<double>(c.partials.load()));
  add(out, "barge_ins_total", "counter", "Agent replies cut by the user speaking.", static_cast<double>(c.barge_ins.load()));
  add(out, "recognizer_seconds_total", "counter", "Worker time spent recognising.", static_cast<double>(c.recognizer_us.load()) / 1e6);
  add(out, "recognized_audio_seconds_total", "counter", "User audio fed to the recognizer.", static_cast<double>(c.recognized_samples.load()) / 16000.0);
  add(out, "final_seconds_sum", "counter", "End of user speech (VAD) to final transcript, summed.", static_cast<double>(c.final_us_sum.load()) / 1e6);
  add(out, "final_seconds_count", "counter", "Final transcripts timed.", static_cast<double>(c.final_count.load()));
  add(out, "synth_seconds_total", "counter", "Worker time spent synthesising.", static_cast<double>(c.synth_us.load()) / 1e6);
  add(out, "synth_audio_seconds_total", "counter", "Agent audio synthesised.", static_cast<double>(c.synth_samples.load()) / 16000.0);
  add(out, "replies_spoken_total", "counter", "Agent utterances spoken.", static_cast<double>(c.replies_spoken.load()));
  add(out, "frames_out_total", "counter", "Agent audio frames (20 ms) sent.", static_cast<double>(c.frames_out.load()));
  add(out, "queue_full_total", "counter", "Speech jobs refused because the worker queue was full.", static_cast<double>(c.queue_full.load()));
  add(out, "recognizer_busy_total", "counter", "Recognizer opens refused: every decoder in use.", static_cast<double>(c.recognizer_busy.load()));
  add(out, "errors_total", "counter", "Speech engine errors.", static_cast<double>(c.errors.load()));
  add(out, "synth_requests_total", "counter", "Syntheses asked for (one per agent reply spoken).", static_cast<double>(c.synth_requests.load()));
  add(out, "synth_cache_hits_total", "counter", "Syntheses answered from the synthesis cache.", static_cast<double>(c.synth_cache_hits.load()));
  add(out, "synth_shared_total", "counter", "Syntheses that joined an identical one already queued or running.", static_cast<double>(c.synth_shared.load()));
  add(out, "synth_backlog_full_total", "counter", "Syntheses refused because server.speech.synth_backlog were waiting (the reply went in text only).", static_cast<double>(c.synth_backlog_full.load()));
  add(out, "synth_backlog", "gauge", "Distinct syntheses waiting for the engine.", synth_ ? static_cast<double>(synth_->queued()) : 0);
  add(out, "synth_cache_bytes", "gauge", "Bytes of audio in the synthesis cache.", synth_ ? static_cast<double>(synth_->cache().bytes()) : 0);
  add(out, "synth_cache_entries", "gauge", "Syntheses kept in the synthesis cache.", synth_ ? static_cast<double>(synth_->cache().entries()) : 0);
  add(out, "worker_queue", "gauge", "Speech jobs waiting for a worker.", workers_ ? static_cast<double>(workers_->queued()) : 0);
  add(out, "workers_busy", "gauge", "Speech workers running a job.", workers_ ? static_cast<double>(workers_->running()) : 0);
  add(out, "worker_queue_limit", "gauge", "The worker queue's bound (server.speech.queue_limit).", static_cast<double>(config_.queue_limit));
  add(out, "decoders", "gauge", "Recognizer decoders alive.", hearing_ ? static_cast<double>(recognizer_->decoders()) : 0);
  add(out, "decoders_busy", "gauge", "Recognizer decoders serving an utterance.", hearing_ ? static_cast<double>(recognizer_->decoders_busy()) : 0);
  return out;
}

}  // namespace parley::host
