// Playback (DESIGN §3, §7): agent audio in, one render quantum at a time out.
//
// PlaybackQueue holds Float32 samples at the context rate in a ring allocated once. It is
// idle until audio arrives, then playing until it runs empty: that pull reports `drained`
// (exactly once per emptying) and the queue is idle again. Pulls while idle or paused give
// silence; a pull that runs out of audio part-way through a quantum is zero-filled and
// counted as an underrun. clear() (barge-in) drops everything queued: the next quantum is
// silent, and no `drained` is reported for it (the caller asked for it). A push that would
// take the queue past its cap is refused whole.
//
// PlaybackChain is the wire side: PCM16 16 kHz little-endian chunks of any even length ->
// Float32 -> resampled to the context rate -> PlaybackQueue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "parley/audio/framer.hpp"
#include "parley/audio/resampler.hpp"
#include "parley/result.hpp"

namespace parley::audio {

inline constexpr std::uint32_t kDefaultMaxBufferedMs = 30000;

struct PullResult {
  std::size_t audio_samples = 0;  // samples of queued audio written (the rest is silence)
  bool drained = false;           // the queue ran empty during this pull
};

class PlaybackQueue {
 public:
  // Errors: "bad_sample_rate"; "bad_playback_cap" when max_buffered_ms is 0 or above 600000.
  static Result<PlaybackQueue> create(int sample_rate_hz,
                                      std::uint32_t max_buffered_ms = kDefaultMaxBufferedMs);

  // Errors: "playback_queue_full" (names the cap and how much was asked); nothing queued.
  Status push(const float* samples, std::size_t count);
  // Writes exactly `count` samples to `out`.
  PullResult pull(float* out, std::size_t count = kRenderQuantum) noexcept;

  void clear() noexcept;
  void pause() noexcept { paused_ = true; }
  void resume() noexcept { paused_ = false; }
  bool paused() const noexcept { return paused_; }
  bool playing() const noexcept { return size_ > 0; }

  int sample_rate() const noexcept { return rate_; }
  std::size_t buffered_samples() const noexcept { return size_; }
  double buffered_ms() const noexcept { return 1000.0 * static_cast<double>(size_) / rate_; }
  std::size_t capacity_samples() const noexcept { return ring_.size(); }
  std::size_t free_samples() const noexcept { return ring_.size() - size_; }
  std::uint32_t max_buffered_ms() const noexcept { return max_ms_; }
  std::uint64_t underruns() const noexcept { return underruns_; }
  std::uint64_t drains() const noexcept { return drains_; }

 private:
  PlaybackQueue() = default;
  int rate_ = 0;
  std::uint32_t max_ms_ = 0;
  std::vector<float> ring_;
  std::size_t head_ = 0;  // oldest sample
  std::size_t size_ = 0;
  bool paused_ = false;
  std::uint64_t underruns_ = 0;
  std::uint64_t drains_ = 0;
};

class PlaybackChain {
 public:
  static Result<PlaybackChain> create(int context_rate_hz,
                                      std::uint32_t max_buffered_ms = kDefaultMaxBufferedMs);

  // `bytes`: PCM16 LE mono 16 kHz, any even length. Errors: "audio_odd_length",
  // "playback_queue_full". On error nothing changes (queue and resampler state alike).
  Status push_pcm16(const std::uint8_t* bytes, std::size_t byte_count);
  PullResult pull(float* out, std::size_t count = kRenderQuantum) noexcept {
    return queue_.pull(out, count);
  }
  // Barge-in: drops queued audio and the resampler's memory of it.
  void clear() noexcept;
  void pause() noexcept { queue_.pause(); }
  void resume() noexcept { queue_.resume(); }

  const PlaybackQueue& queue() const noexcept { return queue_; }
  const Resampler& resampler() const noexcept { return resampler_; }

 private:
  PlaybackChain(Resampler resampler, PlaybackQueue queue);
  static constexpr std::size_t kPiece = 1024;  // wire samples converted per step
  Resampler resampler_;
  PlaybackQueue queue_;
  std::vector<float> decoded_;    // kPiece
  std::vector<float> resampled_;  // enough for kPiece
};

}  // namespace parley::audio
