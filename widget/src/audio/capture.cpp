#include "parley/audio/capture.hpp"

#include <algorithm>

namespace parley::audio {

CaptureChain::CaptureChain(Resampler resampler)
    : resampler_(std::move(resampler)),
      resampled_(kPiece * kWireRate / static_cast<std::size_t>(resampler_.in_rate()) + 4),
      pcm_(resampled_.size()),
      silence_(kPiece, 0.0f) {}

Result<CaptureChain> CaptureChain::create(int context_rate_hz) {
  if (auto s = check_sample_rate(context_rate_hz, "context_rate"); !s) return std::move(s).error();
  auto resampler = Resampler::create(context_rate_hz, kWireRate);
  if (!resampler) return std::move(resampler).error();
  return CaptureChain(std::move(resampler).value());
}

std::size_t CaptureChain::convert(const float* samples, std::size_t n) noexcept {
  // While muted the resampler is fed silence rather than skipped: the frame cadence stays
  // exact, and unmuting starts from a clean history instead of the room before the mute.
  auto made = resampler_.process(muted_ ? silence_.data() : samples, n, resampled_.data(),
                                 resampled_.size());
  const std::size_t count = made ? made.value() : 0;  // resampled_ always fits kPiece
  if (muted_) {
    std::fill(pcm_.begin(), pcm_.begin() + static_cast<std::ptrdiff_t>(count), std::int16_t{0});
  } else {
    encode_pcm16(resampled_.data(), count, pcm_.data());
  }
  return count;
}

}  // namespace parley::audio
