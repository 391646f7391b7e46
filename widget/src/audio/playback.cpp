#include "parley/audio/playback.hpp"

#include <algorithm>
#include <string>

#include "parley/audio/framer.hpp"
#include "parley/audio/pcm16.hpp"

namespace parley::audio {
namespace {

constexpr std::uint32_t kMaxCapMs = 600000;  // 10 minutes

std::string ms_text(double ms) { return std::to_string(static_cast<long long>(ms + 0.5)) + " ms"; }

}  // namespace

Result<PlaybackQueue> PlaybackQueue::create(int sample_rate_hz, std::uint32_t max_buffered_ms) {
  if (auto s = check_sample_rate(sample_rate_hz, "playback sample_rate"); !s) {
    return std::move(s).error();
  }
  if (max_buffered_ms == 0 || max_buffered_ms > kMaxCapMs) {
    return make_error("bad_playback_cap", "playback max_buffered_ms is " +
                                              std::to_string(max_buffered_ms) +
                                              "; it must be from 1 to " + std::to_string(kMaxCapMs));
  }
  PlaybackQueue q;
  q.rate_ = sample_rate_hz;
  q.max_ms_ = max_buffered_ms;
  const auto capacity = (static_cast<std::uint64_t>(sample_rate_hz) * max_buffered_ms + 999) / 1000;
  q.ring_.assign(static_cast<std::size_t>(capacity), 0.0f);
  return q;
}

Status PlaybackQueue::push(const float* samples, std::size_t count) {
  if (count > free_samples()) {
    return make_error("playback_queue_full",
                      "playback queue would hold " +
                          ms_text(1000.0 * static_cast<double>(size_ + count) / rate_) +
                          " of audio, above its cap of " + std::to_string(max_ms_) +
                          " ms; the chunk was not queued");
  }
  std::size_t tail = (head_ + size_) % ring_.size();
  const std::size_t first = std::min(count, ring_.size() - tail);
  std::copy(samples, samples + first, ring_.begin() + static_cast<std::ptrdiff_t>(tail));
  std::copy(samples + first, samples + count, ring_.begin());
  size_ += count;
  return ok_status();
}

PullResult PlaybackQueue::pull(float* out, std::size_t count) noexcept {
  PullResult result;
  if (paused_ || size_ == 0) {
    std::fill(out, out + count, 0.0f);
    return result;
  }
  const std::size_t take = std::min(count, size_);
  const std::size_t first = std::min(take, ring_.size() - head_);
  std::copy(ring_.begin() + static_cast<std::ptrdiff_t>(head_),
            ring_.begin() + static_cast<std::ptrdiff_t>(head_ + first), out);
  std::copy(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(take - first), out + first);
  std::fill(out + take, out + count, 0.0f);
  head_ = (head_ + take) % ring_.size();
  size_ -= take;
  result.audio_samples = take;
  if (take < count) ++underruns_;
  if (size_ == 0) {
    result.drained = true;
    ++drains_;
    head_ = 0;
  }
  return result;
}

void PlaybackQueue::clear() noexcept {
  head_ = 0;
  size_ = 0;
}

PlaybackChain::PlaybackChain(Resampler resampler, PlaybackQueue queue)
    : resampler_(std::move(resampler)),
      queue_(std::move(queue)),
      decoded_(kPiece),
      resampled_(kPiece * static_cast<std::size_t>(resampler_.out_rate()) /
                     static_cast<std::size_t>(resampler_.in_rate()) + 4) {}

Result<PlaybackChain> PlaybackChain::create(int context_rate_hz, std::uint32_t max_buffered_ms) {
  auto resampler = Resampler::create(kWireRate, context_rate_hz);
  if (!resampler) return std::move(resampler).error();
  auto queue = PlaybackQueue::create(context_rate_hz, max_buffered_ms);
  if (!queue) return std::move(queue).error();
  return PlaybackChain(std::move(resampler).value(), std::move(queue).value());
}

Status PlaybackChain::push_pcm16(const std::uint8_t* bytes, std::size_t byte_count) {
  if (byte_count % 2 != 0) return decode_pcm16_le(bytes, byte_count, decoded_.data());
  const std::size_t samples = byte_count / 2;
  // Check the cap for the whole chunk before touching any state.
  const std::size_t will_make = resampler_.output_count(samples);
  if (will_make > queue_.free_samples()) {
    return make_error("playback_queue_full",
                      "playback queue would hold " +
                          ms_text(1000.0 * static_cast<double>(queue_.buffered_samples() + will_make) /
                                  queue_.sample_rate()) +
                          " of audio, above its cap of " + std::to_string(queue_.max_buffered_ms()) +
                          " ms; the chunk was not queued");
  }
  for (std::size_t done = 0; done < samples;) {
    const std::size_t n = std::min(kPiece, samples - done);
    (void)decode_pcm16_le(bytes + 2 * done, 2 * n, decoded_.data());  // n is whole samples
    // resampled_ holds what kPiece samples make, so no check (and no error path) here.
    const std::size_t made = resampler_.process_unchecked(decoded_.data(), n, resampled_.data());
    if (auto s = queue_.push(resampled_.data(), made); !s) return s;
    done += n;
  }
  return ok_status();
}

void PlaybackChain::clear() noexcept {
  queue_.clear();
  resampler_.reset();
}

}  // namespace parley::audio
