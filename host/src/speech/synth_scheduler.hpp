// The host's one queue of speech syntheses (issue 16), on the io thread.
//
// Why it exists: a burst of calls starting at once (a phone campaign, 1,000 browser streams at
// 250 a second) each asked the workers for its greeting, and the workers' FIFO filled with
// identical syntheses that kept recognition waiting and the io thread's core busy. Now:
// - identical synthesis is not redone: a request whose (voice, text) is in the SynthCache is
//   answered from it; one whose synthesis is queued or running joins it and gets the same
//   audio (the pieces made so far at once, the rest as they come);
// - the backlog is bounded: at most `backlog` distinct syntheses wait; a request beyond that
//   is refused at once with "synth_backlog_full" (the call then answers in text for that
//   reply) and counted;
// - it is fair across calls: each call has at most one synthesis waiting or running (it asks
//   for its next reply only when the last one is made), so the FIFO serves the waiting calls
//   in turn, one reply each, and no call can fill the queue ahead of the others;
// - syntheses take at most one worker at a time (espeak-ng serialises them anyway), so the
//   other workers stay free for recognition, which a caller is waiting on.
//
// Audio comes back as 16 kHz PCM16 pieces (the first one small, so the first frame goes out
// early), shared read-only with the cache and the other calls speaking the same text.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "parley/result.hpp"
#include "synth_cache.hpp"

namespace parley::host {

class Synthesizer;
class SpeechService;

class SynthScheduler : public std::enable_shared_from_this<SynthScheduler> {
 public:
  struct Request {
    std::string voice;
    std::string text;
    std::function<void(Pcm)> on_audio;   // the audio in order, in pieces
    std::function<void(Status)> on_done;  // after the last piece, or the error
  };
  // What a caller holds while its request is open. cancel() (barge-in, hang-up) means no
  // more callbacks; a synthesis nobody waits for any more stops.
  class Ticket {
   public:
    void cancel();

   private:
    friend class SynthScheduler;
    std::function<void(Pcm)> on_audio_;
    std::function<void(Status)> on_done_;
    std::weak_ptr<SynthScheduler> owner_;
    std::string key_;
    std::size_t delivered_ = 0;  // pieces of its job handed to on_audio_
    bool cancelled_ = false;
    bool done_ = false;
  };

  // `service` outlives the scheduler (it owns it). cache_bytes 0 = no cache.
  SynthScheduler(SpeechService& service, std::size_t cache_bytes, std::size_t backlog);
  ~SynthScheduler();
  SynthScheduler(const SynthScheduler&) = delete;
  SynthScheduler& operator=(const SynthScheduler&) = delete;

  // Callbacks always come later, from the io_context, never from inside request().
  std::shared_ptr<Ticket> request(Request request);

  std::size_t queued() const { return queue_.size(); }
  std::size_t running() const { return running_; }
  const SynthCache& cache() const { return cache_; }
  std::size_t backlog_limit() const { return backlog_; }

 private:
  struct Job {
    std::string key;
    std::string voice;
    std::string text;
    std::vector<Pcm> pieces;  // made so far
    std::size_t samples = 0;
    std::vector<std::shared_ptr<Ticket>> waiting;
    std::shared_ptr<std::atomic<bool>> stop = std::make_shared<std::atomic<bool>>(false);
    bool running = false;
  };

  void dispatch();
  bool start(const std::shared_ptr<Job>& job);
  void on_piece(const std::shared_ptr<Job>& job, Pcm piece);
  // Hands `ticket` the pieces of `job` it has not had yet, in order.
  static void deliver(const Job& job, const std::shared_ptr<Ticket>& ticket);
  void on_finished(const std::shared_ptr<Job>& job, Status status);
  void cancelled(Ticket& ticket);
  static bool anyone_waiting(const Job& job);
  void arm_retry();

  SpeechService& service_;
  SynthCache cache_;
  std::size_t backlog_;
  std::deque<std::shared_ptr<Job>> queue_;                     // not started yet
  std::unordered_map<std::string, std::shared_ptr<Job>> jobs_;  // queued or running, by key
  std::size_t running_ = 0;
  boost::asio::steady_timer retry_timer_;
  bool retry_armed_ = false;
};

}  // namespace parley::host
