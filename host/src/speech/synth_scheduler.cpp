#include "synth_scheduler.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include <boost/asio/post.hpp>

#include "parley/audio/framer.hpp"
#include "parley/audio/pcm16.hpp"
#include "parley/audio/resampler.hpp"
#include "parley/host/log.hpp"
#include "parley/host/speech.hpp"

namespace parley::host {
namespace {

constexpr int kRate = audio::kWireRate;           // what the calls play: 16 kHz
constexpr std::size_t kFirstPieceSamples = 320;   // the first 20 ms goes at once
constexpr std::size_t kPieceSamples = kRate / 5;  // later pieces: 200 ms each
constexpr std::size_t kMaxRunning = 1;            // espeak-ng serialises syntheses anyway
constexpr auto kRetry = std::chrono::milliseconds(20);

}  // namespace

void SynthScheduler::Ticket::cancel() {
  if (cancelled_ || done_) return;
  cancelled_ = true;
  on_audio_ = nullptr;
  on_done_ = nullptr;
  if (auto owner = owner_.lock()) owner->cancelled(*this);
}

SynthScheduler::SynthScheduler(SpeechService& service, std::size_t cache_bytes, std::size_t backlog)
    : service_(service), cache_(cache_bytes), backlog_(backlog), retry_timer_(service.io()) {}

SynthScheduler::~SynthScheduler() {
  for (auto& [key, job] : jobs_) job->stop->store(true);
}

bool SynthScheduler::anyone_waiting(const Job& job) {
  return std::any_of(job.waiting.begin(), job.waiting.end(),
                     [](const std::shared_ptr<Ticket>& t) { return !t->cancelled_; });
}

std::shared_ptr<SynthScheduler::Ticket> SynthScheduler::request(Request request) {
  auto ticket = std::make_shared<Ticket>();
  ticket->on_audio_ = std::move(request.on_audio);
  ticket->on_done_ = std::move(request.on_done);
  ticket->owner_ = weak_from_this();
  ticket->key_ = SynthCache::key(request.voice, request.text);
  SpeechCounters& counters = service_.counters();
  ++counters.synth_requests;
  std::weak_ptr<Ticket> weak_ticket = ticket;

  if (Pcm cached = cache_.find(ticket->key_)) {
    ++counters.synth_cache_hits;
    boost::asio::post(service_.io(), [weak_ticket, cached] {
      auto t = weak_ticket.lock();
      if (!t || t->cancelled_ || t->done_) return;
      if (t->on_audio_) t->on_audio_(cached);
      if (t->cancelled_) return;
      t->done_ = true;
      auto done = std::move(t->on_done_);
      t->on_audio_ = nullptr;
      if (done) done(ok_status());
    });
    return ticket;
  }

  if (auto it = jobs_.find(ticket->key_); it != jobs_.end()) {
    // The same text is being (or about to be) synthesised: share it.
    ++counters.synth_shared;
    std::shared_ptr<Job> job = it->second;
    job->waiting.push_back(ticket);
    // The pieces made so far come later, from the io_context, like every callback (and
    // before any newer piece: each delivery hands over everything not yet delivered).
    if (!job->pieces.empty())
      boost::asio::post(service_.io(), [weak_ticket, job] {
        if (auto t = weak_ticket.lock()) deliver(*job, t);
      });
    return ticket;
  }

  if (queue_.size() >= backlog_) {
    ++counters.synth_backlog_full;
    ticket->done_ = true;
    boost::asio::post(service_.io(), [done = std::move(ticket->on_done_), limit = backlog_] {
      if (done)
        done(make_error("synth_backlog_full",
                        std::to_string(limit) +
                            " syntheses are already waiting (server.speech.synth_backlog)"));
    });
    ticket->on_audio_ = nullptr;
    return ticket;
  }

  auto job = std::make_shared<Job>();
  job->key = ticket->key_;
  job->voice = std::move(request.voice);
  job->text = std::move(request.text);
  job->waiting.push_back(ticket);
  jobs_[job->key] = job;
  queue_.push_back(job);
  dispatch();
  return ticket;
}

void SynthScheduler::cancelled(Ticket& ticket) {
  auto it = jobs_.find(ticket.key_);
  if (it == jobs_.end()) return;
  std::shared_ptr<Job> job = it->second;
  if (anyone_waiting(*job)) return;
  // Nobody waits for it any more: stop it, and let a later request start afresh.
  job->stop->store(true);
  jobs_.erase(it);
  if (!job->running) queue_.erase(std::remove(queue_.begin(), queue_.end(), job), queue_.end());
}

void SynthScheduler::dispatch() {
  while (running_ < kMaxRunning && !queue_.empty()) {
    std::shared_ptr<Job> job = queue_.front();
    if (!start(job)) return arm_retry();  // the workers' queue is full: try again shortly
    queue_.pop_front();
  }
}

void SynthScheduler::arm_retry() {
  if (retry_armed_) return;
  retry_armed_ = true;
  retry_timer_.expires_after(kRetry);
  std::weak_ptr<SynthScheduler> weak = weak_from_this();
  retry_timer_.async_wait([weak](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec) return;
    self->retry_armed_ = false;
    self->dispatch();
  });
}

bool SynthScheduler::start(const std::shared_ptr<Job>& job) {
  std::weak_ptr<SynthScheduler> weak = weak_from_this();
  SpeechService* service = &service_;  // outlives every job: its workers are joined first
  auto work = [weak, service, job, voice = job->voice, text = job->text, stop = job->stop] {
    const auto t0 = std::chrono::steady_clock::now();
    Synthesizer* synth = service->synthesizer();
    const int in_rate = synth->sample_rate();
    auto resampler = audio::Resampler::create(in_rate, kRate);
    std::vector<float> in, out;
    std::vector<std::int16_t> piece;
    std::uint64_t produced = 0;
    bool first = true;
    auto flush = [&] {
      if (piece.empty()) return;
      produced += piece.size();
      Pcm shared = std::make_shared<const std::vector<std::int16_t>>(std::move(piece));
      boost::asio::post(service->io(), [weak, job, shared] {
        if (auto self = weak.lock()) self->on_piece(job, shared);
      });
      piece = {};
      first = false;
    };
    auto convert = [&](const std::int16_t* s, std::size_t n) {
      in.resize(n);
      audio::decode_pcm16(s, n, in.data());
      out.resize(resampler->output_count(n));
      auto made = resampler->process(in.data(), n, out.data(), out.size());
      const std::size_t m = made ? *made : 0;
      const std::size_t at = piece.size();
      piece.resize(at + m);
      audio::encode_pcm16(out.data(), m, piece.data() + at);
      if (piece.size() >= (first ? kFirstPieceSamples : kPieceSamples)) flush();
    };
    Status status = ok_status();
    if (!resampler) {
      status = std::move(resampler).error();
    } else {
      status = synth->synthesize(text, voice, [&](const std::int16_t* s, std::size_t n) {
        if (stop->load() || service->stopping()) return false;
        convert(s, n);
        return true;
      });
      if (status && !stop->load()) {
        // The resampler's delay: push silence through so the last sound comes out too.
        const std::vector<std::int16_t> tail(
            static_cast<std::size_t>(resampler->delay_seconds() * in_rate) + 16, 0);
        convert(tail.data(), tail.size());
      }
      flush();
    }
    service->counters().synth_us += static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count());
    service->counters().synth_samples += produced;
    boost::asio::post(service->io(), [weak, job, status = std::move(status)]() mutable {
      if (auto self = weak.lock()) self->on_finished(job, std::move(status));
    });
  };
  if (!service_.post(std::move(work))) return false;
  job->running = true;
  ++running_;
  return true;
}

void SynthScheduler::deliver(const Job& job, const std::shared_ptr<Ticket>& ticket) {
  // A callback may cancel this ticket (barge-in): check before every piece.
  while (ticket->delivered_ < job.pieces.size() && !ticket->cancelled_ && !ticket->done_ &&
         ticket->on_audio_) {
    const Pcm piece = job.pieces[ticket->delivered_++];
    ticket->on_audio_(piece);
  }
}

void SynthScheduler::on_piece(const std::shared_ptr<Job>& job, Pcm piece) {
  if (job->stop->load()) return;
  job->samples += piece->size();
  job->pieces.push_back(std::move(piece));
  // A callback may cancel its own or another ticket of this job: walk a copy.
  const auto waiting = job->waiting;
  for (const auto& t : waiting) deliver(*job, t);
}

void SynthScheduler::on_finished(const std::shared_ptr<Job>& job, Status status) {
  job->running = false;
  --running_;
  const bool stopped = job->stop->load();
  if (auto it = jobs_.find(job->key); it != jobs_.end() && it->second == job) jobs_.erase(it);
  if (!stopped) {
    if (status && job->samples > 0) {
      auto whole = std::make_shared<std::vector<std::int16_t>>();
      whole->reserve(job->samples);
      for (const Pcm& p : job->pieces) whole->insert(whole->end(), p->begin(), p->end());
      cache_.insert(job->key, std::move(whole));
    }
    const auto waiting = std::move(job->waiting);
    job->waiting.clear();
    for (const auto& t : waiting) {
      deliver(*job, t);
      if (t->cancelled_ || t->done_) continue;
      t->done_ = true;
      auto done = std::move(t->on_done_);
      t->on_audio_ = nullptr;
      if (done) done(status);
    }
  }
  job->pieces.clear();
  dispatch();
}

}  // namespace parley::host
