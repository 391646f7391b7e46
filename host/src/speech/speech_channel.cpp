#include "speech_channel.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <utility>

#include <boost/asio/post.hpp>

#include "parley/audio/framer.hpp"
#include "parley/audio/meter.hpp"
#include "parley/audio/pcm16.hpp"
#include "parley/host/log.hpp"
#include "synth_scheduler.hpp"

namespace parley::host {
namespace {

constexpr int kRate = audio::kWireRate;                      // 16 kHz both ways
constexpr std::size_t kPrerollSamples = kRate * 300 / 1000;  // fed before the VAD's start
constexpr std::size_t kRingSamples = kRate;                  // pre-roll + onset, with room
constexpr std::size_t kMinJobSamples = kRate / 10;           // batch at least 100 ms per job
constexpr std::size_t kPartialEverySamples = kRate * 300 / 1000;
constexpr std::size_t kFeedSamples = kRate / 10;  // the recognizer gets 100 ms blocks
constexpr auto kRetry = std::chrono::milliseconds(20);
constexpr auto kMaxDecoderWait = std::chrono::seconds(10);  // a finished turn waits this long
constexpr auto kLevelWindow = std::chrono::milliseconds(500);

std::int64_t micros_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
      .count();
}

}  // namespace

// Worker side of one utterance: touched only by its one job in flight.
struct SpeechChannel::RecWork {
  std::unique_ptr<RecognizerStream> stream;
  std::vector<std::int16_t> backlog;  // audio not yet fed (no decoder yet, or less than a block)
  std::size_t since_partial = 0;
  bool failed = false;
  bool counted_busy = false;
};

struct SpeechChannel::RecResult {
  std::string partial;
  RecognizerAdaptation adaptation;  // after a final
  bool final = false;
  Result<std::string> text = std::string();
  bool busy = false;        // no decoder yet: the audio waits in the backlog
  bool first_busy = false;  // ... for the first time in this utterance
};

// io side of one utterance.
struct SpeechChannel::Utterance {
  std::uint64_t id = 0;
  std::shared_ptr<RecWork> work = std::make_shared<RecWork>();
  std::vector<std::int16_t> pending;  // audio not yet handed to a job
  std::size_t samples = 0;            // all audio of the utterance so far
  bool in_flight = false;
  bool finish_requested = false;
  bool done = false;
  std::string last_partial;
  Clock::time_point ended_at{};
};


struct SpeechChannel::Segment {
  std::uint64_t id = 0;
  std::string text;
  SayOptions options;
  std::shared_ptr<SynthScheduler::Ticket> ticket;  // while it is being synthesised
  bool synth_done = false;
  std::size_t samples_queued = 0;
  std::size_t samples_sent = 0;
  Clock::time_point said_at = Clock::now();
};

SpeechChannel::SpeechChannel(SpeechService& service, const AgentConfig& agent,
                             const LineSpeechConfig& line, std::weak_ptr<SpeechOutput> output,
                             Events events)
    : service_(service),
      agent_(agent),
      line_(line),
      output_(std::move(output)),
      events_(std::move(events)),
      turn_timer_(service.io()),
      retry_timer_(service.io()),
      hold_timer_(service.io()) {
  const LineSpeechConfig& c = line;
  speaks_ = service.can_speak(agent);
  voice_ = service.voice(agent);
  if (service.can_hear(agent)) {
    audio::VadConfig vc;
    vc.sample_rate = kRate;
    vc.hangover_ms = static_cast<int>(c.vad_hangover_ms);
    vc.onset_ms = static_cast<int>(c.vad_onset_ms);
    vc.threshold_db = static_cast<float>(c.vad_threshold_db);
    auto vad = audio::Vad::create(vc);
    if (vad) {
      vad_.emplace(std::move(*vad));
      hears_ = true;
      ring_.assign(kRingSamples, 0);
    } else {
      log_event(LogLevel::error, "speech.vad", vad.error().message);
    }
  }
}

SpeechChannel::~SpeechChannel() { stop(); }

void SpeechChannel::stop() {
  if (stopped_) return;
  stopped_ = true;
  turn_timer_.cancel();
  retry_timer_.cancel();
  hold_timer_.cancel();
  pacing_ = false;
  for (auto& s : segments_)
    if (s.ticket) s.ticket->cancel();
  segments_.clear();
  audio_.clear();
  audio_samples_ = 0;
  current_.reset();
  finishing_.clear();
}

// ---- listening ---------------------------------------------------------------------------

void SpeechChannel::on_audio(const std::uint8_t* data, std::size_t size) {
  if (!hears_ || stopped_) return;
  const Clock::time_point now = Clock::now();
  vad_->set_gate_dbfs(echo_gate_dbfs(now));
  constexpr std::size_t kChunk = 512;
  std::int16_t samples[kChunk];
  float floats[kChunk];
  const std::size_t total = size / 2;
  const std::size_t max_samples = static_cast<std::size_t>(line_.max_utterance_s) * kRate;
  for (std::size_t done = 0; done < total && !stopped_;) {
    const std::size_t n = std::min(kChunk, total - done);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t b = 2 * (done + i);
      samples[i] = static_cast<std::int16_t>(static_cast<std::uint16_t>(data[b]) |
                                             (static_cast<std::uint16_t>(data[b + 1]) << 8));
      floats[i] = audio::pcm16_to_float(samples[i]);
    }
    // Into the pre-roll ring in at most two copies (a division per sample here was most of
    // this function's cost, which every call pays on every frame).
    const std::size_t at = static_cast<std::size_t>(samples_in_ % ring_.size());
    const std::size_t first = std::min(n, ring_.size() - at);
    std::copy_n(samples, first, ring_.begin() + static_cast<std::ptrdiff_t>(at));
    std::copy_n(samples + first, n - first, ring_.begin());
    samples_in_ += n;
    if (current_) {
      current_->pending.insert(current_->pending.end(), samples, samples + n);
      current_->samples += n;
    }
    vad_->push(floats, n, [this](const audio::VadEvent& e) {
      if (e.kind == audio::VadEvent::Kind::speech_start) {
        on_vad_start(e.sample);
      } else {
        on_vad_end();
      }
    });
    if (current_ && current_->samples > max_samples) {
      // An endless turn (or a noise the VAD takes for speech): recognise what there is.
      end_utterance();
      ignoring_ = true;
    }
    done += n;
  }
  if (current_) kick(current_);
}

void SpeechChannel::on_vad_start(std::uint64_t sample) {
  if (log_enabled(LogLevel::debug))
    log_event(LogLevel::debug, "speech.vad_start",
              "agent=" + agent_.id + " at_ms=" + std::to_string(sample / 16) +
                  " detected_ms=" + std::to_string(samples_in_ / 16) + " gate_dbfs=" +
                  std::to_string(static_cast<int>(vad_->gate_dbfs())) +
                  (talking() ? " talking" : "") + (ignoring_ ? " ignored" : ""));
  if (ignoring_ || stopped_) return;
  if (events_.activity) events_.activity();
  if (talking()) {
    const bool may_cut = agent_.flow.interruption_allowed &&
                         (segments_.empty() || segments_.front().options.interruptible);
    if (!may_cut) {
      ignoring_ = true;  // the agent has the floor: this utterance is not listened to
      return;
    }
    cut_agent(true);
    if (stopped_) return;
  }
  turn_timer_.cancel();  // the user goes on: a turn waiting for response_delay waits for this
  auto u = std::make_shared<Utterance>();
  u->id = next_utterance_++;
  // From the pre-roll before the detected start to now.
  const std::uint64_t from = sample > kPrerollSamples ? sample - kPrerollSamples : 0;
  const std::uint64_t oldest = samples_in_ > ring_.size() ? samples_in_ - ring_.size() : 0;
  for (std::uint64_t t = std::max(from, oldest); t < samples_in_; ++t)
    u->pending.push_back(ring_[t % ring_.size()]);
  u->samples = u->pending.size();
  current_ = u;
  ++service_.counters().utterances;
}

void SpeechChannel::on_vad_end() {
  if (log_enabled(LogLevel::debug))
    log_event(LogLevel::debug, "speech.vad_end",
              "agent=" + agent_.id + " detected_ms=" + std::to_string(samples_in_ / 16) +
                  (ignoring_ ? " ignored" : ""));
  if (ignoring_) {
    ignoring_ = false;
    return;
  }
  end_utterance();
}

void SpeechChannel::end_utterance() {
  if (!current_) return;
  current_->finish_requested = true;
  current_->ended_at = Clock::now();
  finishing_.push_back(current_);
  auto u = std::move(current_);
  current_.reset();
  kick(u);
}

void SpeechChannel::kick(const std::shared_ptr<Utterance>& u) {
  if (stopped_ || u->in_flight || u->done) return;
  if (!u->finish_requested && u->pending.size() < kMinJobSamples) return;
  auto audio = std::make_shared<std::vector<std::int16_t>>(std::move(u->pending));
  u->pending.clear();
  const bool finish = u->finish_requested;
  std::weak_ptr<SpeechChannel> weak = weak_from_this();
  SpeechService* service = &service_;  // outlives every job: its workers are joined first
  const RecognitionHints* hints = &service_.hints(agent_);
  const std::size_t max_backlog = static_cast<std::size_t>(line_.max_utterance_s) * kRate;
  auto job = [weak, service, hints, u, work = u->work, audio, finish, max_backlog,
              adaptation = adaptation_] {
    const auto t0 = std::chrono::steady_clock::now();
    RecResult r;
    RecWork& w = *work;
    std::size_t fed = 0;
    if (!w.stream && !w.failed && !service->stopping()) {
      auto opened = service->recognizer()->open(*hints, adaptation);
      if (opened) {
        w.stream = std::move(*opened);
      } else if (opened.error().code == "recognizer_busy") {
        // Keep the audio: the next job tries again, and catches up (decoding runs several
        // times faster than real time).
        r.busy = true;
        r.first_busy = !w.counted_busy;
        w.counted_busy = true;
        const std::size_t room = max_backlog > w.backlog.size() ? max_backlog - w.backlog.size() : 0;
        w.backlog.insert(w.backlog.end(), audio->begin(),
                         audio->begin() + static_cast<std::ptrdiff_t>(std::min(room, audio->size())));
        audio->clear();
      } else {
        w.failed = true;
        r.text = std::move(opened).error();
      }
    }
    if (w.stream) {
      // Audio goes to the recognizer in whole blocks of kFeedSamples from the utterance's
      // start, whatever the timing of the jobs, so that recognition is the same on every run
      // (pocketsphinx updates its cepstral mean between blocks).
      w.backlog.insert(w.backlog.end(), audio->begin(), audio->end());
      const std::size_t n = finish ? w.backlog.size() : w.backlog.size() / kFeedSamples * kFeedSamples;
      Status st = n > 0 ? w.stream->feed(w.backlog.data(), n) : ok_status();
      w.backlog.erase(w.backlog.begin(), w.backlog.begin() + static_cast<std::ptrdiff_t>(n));
      fed = n;
      w.since_partial += fed;
      if (!st) {
        w.failed = true;
        r.text = st.error();
        w.stream.reset();
      } else if (finish) {
        r.text = w.stream->finish();
        r.adaptation = w.stream->adaptation();
        w.stream.reset();
      } else if (w.since_partial >= kPartialEverySamples) {
        r.partial = w.stream->partial();
        w.since_partial = 0;
      }
    }
    r.final = (finish && !r.busy) || w.failed;
    service->counters().recognizer_us += static_cast<std::uint64_t>(micros_since(t0));
    service->counters().recognized_samples += fed;
    boost::asio::post(service->io(), [weak, u, r = std::move(r)]() mutable {
      if (auto self = weak.lock()) self->on_rec_result(u, std::move(r));
    });
  };
  if (!service_.post(std::move(job))) {
    // The worker queue is full: keep the audio (in order) and try again shortly.
    audio->insert(audio->end(), u->pending.begin(), u->pending.end());
    u->pending = std::move(*audio);
    arm_retry();
    return;
  }
  u->in_flight = true;
}

void SpeechChannel::arm_retry() {
  if (retry_armed_ || stopped_) return;
  retry_armed_ = true;
  retry_timer_.expires_after(kRetry);
  std::weak_ptr<SpeechChannel> weak = weak_from_this();
  retry_timer_.async_wait([weak](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec) return;
    self->retry_armed_ = false;
    if (self->current_) self->kick(self->current_);
    auto waiting = self->finishing_;  // kick may not change the list, but be safe
    for (auto& u : waiting) self->kick(u);
  });
}

void SpeechChannel::on_rec_result(const std::shared_ptr<Utterance>& u, RecResult r) {
  u->in_flight = false;
  if (stopped_ || u->done) return;
  SpeechCounters& counters = service_.counters();
  if (r.first_busy) ++counters.recognizer_busy;
  if (r.busy && u->finish_requested) {
    // The turn is over but no decoder was free: try again shortly, for a while.
    if (Clock::now() - u->ended_at < kMaxDecoderWait) {
      arm_retry();
      return;
    }
    r.final = true;
    r.text = make_error("recognizer_busy", "no speech decoder became free within " +
                                               std::to_string(kMaxDecoderWait.count()) + " s");
  }
  if (!r.partial.empty() && r.partial != u->last_partial && !u->finish_requested) {
    u->last_partial = r.partial;
    ++counters.partials;
    if (auto out = output_.lock()) out->transcript(r.partial, false);
  }
  const bool failed = !r.text;
  if (r.final || (failed && !u->finish_requested)) {
    u->done = true;
    if (!r.adaptation.values.empty()) adaptation_ = std::move(r.adaptation);
    finishing_.erase(std::remove(finishing_.begin(), finishing_.end(), u), finishing_.end());
    if (u == current_) {
      current_.reset();
      ignoring_ = true;  // the rest of this utterance cannot be recognised
    }
    if (u->finish_requested) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - u->ended_at).count();
      counters.final_us_sum += static_cast<std::uint64_t>(us);
      ++counters.final_count;
      if (log_enabled(LogLevel::debug))
        log_event(LogLevel::debug, "speech.final",
                  "agent=" + agent_.id + " ms_after_end=" + std::to_string(us / 1000) +
                      " words=" + std::to_string(r.text ? r.text->size() : 0));
    }
    if (failed) {
      ++counters.dropped_utterances;
      if (r.text.error().code != "recognizer_busy") ++counters.errors;
      log_event(LogLevel::warn, "speech.utterance_dropped",
                "agent=" + agent_.id + " " + r.text.error().code + ": " + r.text.error().message);
    } else if (r.text->empty()) {
      ++counters.empty_utterances;
    } else {
      ++counters.turns;
      if (auto out = output_.lock()) out->transcript(*r.text, true);
      if (stopped_) return;
      queue_turn(*r.text);
      return;
    }
    if (!pending_turn_.empty() && !current_) queue_turn("");
    return;
  }
  kick(u);
}

void SpeechChannel::queue_turn(const std::string& text) {
  if (!text.empty()) pending_turn_ += (pending_turn_.empty() ? "" : " ") + text;
  if (pending_turn_.empty() || current_) return;  // the user is still speaking: wait
  const std::uint32_t delay = agent_.flow.response_delay_ms;
  if (delay == 0) return deliver_turn();
  turn_timer_.expires_after(std::chrono::milliseconds(delay));
  std::weak_ptr<SpeechChannel> weak = weak_from_this();
  turn_timer_.async_wait([weak](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec || self->current_) return;
    self->deliver_turn();
  });
}

void SpeechChannel::deliver_turn() {
  std::string text = std::move(pending_turn_);
  pending_turn_.clear();
  if (!text.empty() && events_.user_turn) events_.user_turn(std::move(text));
}

// ---- speaking ------------------------------------------------------------------------------

void SpeechChannel::say(std::string text, SayOptions options) {
  if (stopped_) return;
  // Empty text while talking waits its turn: "when what is queued has been said". With a
  // pause it is queued even alone: the pause starts when it comes up.
  if (!speaks_ || (text.empty() && segments_.empty() && options.pause_after_ms == 0)) {
    if (options.done) {
      boost::asio::post(service_.io(), [done = std::move(options.done), text] { done(true, text); });
    }
    return;
  }
  Segment s;
  s.id = next_segment_++;
  s.text = std::move(text);
  s.options = std::move(options);
  segments_.push_back(std::move(s));
  start_synth();
}

SpeechChannel::Segment* SpeechChannel::find_segment(std::uint64_t id) {
  for (auto& s : segments_)
    if (s.id == id) return &s;
  return nullptr;
}

void SpeechChannel::start_synth() {
  while (!synth_in_flight_ && !stopped_) {
    auto it = std::find_if(segments_.begin(), segments_.end(),
                           [](const Segment& s) { return !s.synth_done; });
    if (it == segments_.end()) return;
    Segment& seg = *it;
    if (seg.text.empty()) {  // a marker: nothing to say
      seg.synth_done = true;
      if (&seg == &segments_.front() && seg.samples_sent == seg.samples_queued) complete_front();
      continue;
    }
    SynthScheduler* synth = service_.synth();
    if (!synth) {
      seg.synth_done = true;
      continue;
    }
    std::weak_ptr<SpeechChannel> weak = weak_from_this();
    const std::uint64_t id = seg.id;
    SynthScheduler::Request request;
    request.voice = voice_;
    request.text = seg.text;
    request.on_audio = [weak, id](Pcm pcm) {
      if (auto self = weak.lock()) self->on_synth_audio(id, std::move(pcm));
    };
    request.on_done = [weak, id](Status status) {
      if (auto self = weak.lock()) self->on_synth_done(id, std::move(status));
    };
    synth_in_flight_ = true;
    seg.ticket = synth->request(std::move(request));
  }
}

void SpeechChannel::on_synth_audio(std::uint64_t segment_id, Pcm samples) {
  if (stopped_ || !samples || samples->empty()) return;
  Segment* seg = find_segment(segment_id);
  if (!seg) return;
  if (seg->samples_queued == 0 && log_enabled(LogLevel::debug))
    log_event(LogLevel::debug, "speech.first_audio",
              "agent=" + agent_.id + " ms_after_say=" +
                  std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - seg->said_at).count()));
  seg->samples_queued += samples->size();
  audio_samples_ += samples->size();
  audio_.push_back(Queued{segment_id, std::move(samples), 0});
  start_pacing();
}

void SpeechChannel::on_synth_done(std::uint64_t segment_id, Status status) {
  if (stopped_) return;
  Segment* seg = find_segment(segment_id);
  if (!seg) return;  // cut meanwhile (its ticket was cancelled, so this is a late marker)
  synth_in_flight_ = false;
  seg->ticket.reset();
  if (!status) {
    // This reply goes unspoken (its text was sent), or stops where the engine failed: too
    // many syntheses are waiting (server.speech.synth_backlog), or the engine failed.
    if (status.error().code != "synth_backlog_full") ++service_.counters().errors;
    log_event(LogLevel::warn, status.error().code == "synth_backlog_full" ? "speech.synth_dropped" : "speech.synth_failed",
              "agent=" + agent_.id + " " + status.error().code + ": " + status.error().message);
  }
  seg->synth_done = true;
  {
    // The last, partial frame is filled with silence: every frame is 20 ms.
    static const Pcm silence = std::make_shared<const std::vector<std::int16_t>>(audio::kFrameSamples, 0);
    const std::size_t partial = seg->samples_queued % audio::kFrameSamples;
    if (partial != 0) {
      const std::size_t pad = audio::kFrameSamples - partial;
      seg->samples_queued += pad;
      audio_samples_ += pad;
      audio_.push_back(Queued{segment_id, silence, audio::kFrameSamples - pad});
      start_pacing();
    }
    if (seg == &segments_.front() && seg->samples_sent == seg->samples_queued) complete_front();
  }
  start_synth();
}

void SpeechChannel::start_pacing() {
  if (pacing_ || paused_ || audio_samples_ < audio::kFrameSamples || stopped_) return;
  pacing_ = true;
  if (in_pacer_) return;  // still registered (cut less than a frame ago): its turn comes soon
  send_frame();           // the frame due now; the pacer calls for the next ones
  if (stopped_) return;
  if (paused_) {  // that frame ended a segment with a pause: end_pause starts again
    pacing_ = false;
    return;
  }
  in_pacer_ = true;
  service_.pacer().add(weak_from_this());
}

bool SpeechChannel::on_frame_due() {
  if (stopped_ || !pacing_ || paused_ || audio_samples_ < audio::kFrameSamples) {
    pacing_ = false;  // underrun, a pause or the end: the next audio starts a new schedule
    in_pacer_ = false;
    return false;
  }
  send_frame();
  if (stopped_ || paused_) {
    if (paused_) pacing_ = false;  // the pause's end starts the pacing again (end_pause)
    in_pacer_ = false;
    return false;
  }
  return true;
}

void SpeechChannel::end_pause() {
  if (!paused_ || stopped_) return;
  paused_ = false;
  if (auto out = output_.lock()) out->unpause();
  if (stopped_) return;
  start_pacing();  // what was synthesised meanwhile goes on
}

void SpeechChannel::send_frame() {
  // One 20 ms frame from the front of the queue (a frame never spans two segments: each
  // segment's audio is padded to whole frames).
  std::int16_t pcm[audio::kFrameSamples];
  const std::uint64_t segment = audio_.front().segment;
  std::size_t have = 0;
  while (have < audio::kFrameSamples && !audio_.empty()) {
    Queued& q = audio_.front();
    const std::size_t n = std::min(audio::kFrameSamples - have, q.pcm->size() - q.at);
    std::copy_n(q.pcm->data() + q.at, n, pcm + have);
    q.at += n;
    have += n;
    if (q.at == q.pcm->size()) audio_.pop_front();
  }
  audio_samples_ -= have;
  const Clock::time_point now = Clock::now();
  // The level of what we send is the level the echo gate follows.
  float samples[audio::kFrameSamples];
  std::string bytes(2 * audio::kFrameSamples, '\0');
  for (std::size_t i = 0; i < audio::kFrameSamples; ++i) {
    samples[i] = audio::pcm16_to_float(pcm[i]);
    const auto u = static_cast<std::uint16_t>(pcm[i]);
    bytes[2 * i] = static_cast<char>(u & 0xff);
    bytes[2 * i + 1] = static_cast<char>(u >> 8);
  }
  sent_levels_.push_back({now, audio::measure_level(samples, audio::kFrameSamples).rms_dbfs});
  while (!sent_levels_.empty() && now - sent_levels_.front().at > kLevelWindow) sent_levels_.pop_front();
  last_frame_at_ = now;
  if (auto out = output_.lock()) out->audio_frame(std::move(bytes));
  if (stopped_) return;
  ++service_.counters().frames_out;
  if (!segments_.empty() && segments_.front().id == segment) {
    Segment& seg = segments_.front();
    seg.samples_sent += have;
    if (seg.synth_done && seg.samples_sent == seg.samples_queued) complete_front();
  }
}

void SpeechChannel::complete_front() {
  Segment seg = std::move(segments_.front());
  segments_.pop_front();
  if (!seg.text.empty()) ++service_.counters().replies_spoken;  // a marker says nothing
  if (seg.options.pause_after_ms > 0 && !paused_) {
    // A pause after a segment (SayOptions::pause_after_ms): no frame is sent until its time
    // is up (the pacer lets this channel go), then what follows goes on.
    paused_ = true;
    if (auto out = output_.lock()) out->pause();
    if (stopped_) return;
    hold_timer_.expires_after(std::chrono::milliseconds(seg.options.pause_after_ms));
    std::weak_ptr<SpeechChannel> weak = weak_from_this();
    hold_timer_.async_wait([weak](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || ec) return;
      self->end_pause();
    });
  }
  if (seg.options.done) seg.options.done(true, seg.text);
  if (stopped_) return;
  if (segments_.empty() && events_.activity) events_.activity();
  // A segment that had nothing to say (or was refused the engine) may be next, already done.
  if (!segments_.empty() && segments_.front().synth_done &&
      segments_.front().samples_sent == segments_.front().samples_queued)
    complete_front();
}

void SpeechChannel::cut() { cut_agent(false); }

void SpeechChannel::cut_agent(bool barge_in) {
  if ((segments_.empty() && !(barge_in && floor_)) || stopped_) return;
  std::deque<Segment> cut;
  cut.swap(segments_);
  for (auto& s : cut)
    if (s.ticket) s.ticket->cancel();
  synth_in_flight_ = false;
  audio_.clear();
  audio_samples_ = 0;
  pacing_ = false;  // the pacer forgets this channel at its next call
  sent_levels_.clear();
  last_frame_at_ = {};  // the client drops its queue on `clear`: no echo is coming
  if (paused_) {  // a pause in progress ends with what it paused
    paused_ = false;
    hold_timer_.cancel();
    if (auto out = output_.lock()) out->unpause();
    if (stopped_) return;
  }
  // The output drops what its transport still queues (a socket's unsent frames would play
  // after `clear`) and says clear.
  if (auto out = output_.lock()) out->clear();
  if (stopped_) return;
  if (barge_in) ++service_.counters().barge_ins;
  for (auto& s : cut) {
    if (s.options.done) s.options.done(false, heard_of(s));
    if (stopped_) return;
  }
  if (barge_in && events_.barge_in) events_.barge_in();
}

std::string SpeechChannel::heard_of(const Segment& segment) const {
  if (segment.samples_sent == 0 || segment.text.empty()) return {};
  // Its length: known once synthesised; until then at least what espeak-ng's default rate
  // (175 words a minute, about 14 characters a second) would take.
  double total = static_cast<double>(segment.samples_queued);
  if (!segment.synth_done) {
    total = std::max(total, static_cast<double>(segment.text.size()) / 14.0 * 16000.0);
  }
  const double fraction = total > 0 ? static_cast<double>(segment.samples_sent) / total : 0.0;
  if (fraction >= 1.0) return segment.text;
  const auto target = static_cast<std::size_t>(fraction * static_cast<double>(segment.text.size()));
  if (target < segment.text.size() && segment.text[target] == ' ') return segment.text.substr(0, target);
  const std::size_t space = segment.text.rfind(' ', target);
  if (space == std::string::npos) return {};
  return segment.text.substr(0, space);
}

float SpeechChannel::echo_gate_dbfs(Clock::time_point now) {
  const auto tail = std::chrono::milliseconds(line_.echo_tail_ms);
  const bool recent = last_frame_at_ != Clock::time_point{} && now - last_frame_at_ <= tail;
  if (!recent || sent_levels_.empty()) return audio::Vad::kNoGate;
  float level = audio::kSilenceDbfs;
  for (const auto& l : sent_levels_)
    if (now - l.at <= kLevelWindow) level = std::max(level, l.rms_dbfs);
  if (level <= audio::kSilenceDbfs) return audio::Vad::kNoGate;
  return level + static_cast<float>(line_.echo_gate_db);
}

}  // namespace parley::host
