#include "parley/audio/capture.hpp"

namespace parley::audio {

CaptureChain::CaptureChain(Resampler resampler)
    : resampler_(std::move(resampler)),
      // kPiece samples make at most kPiece * 16000 / rate, rounded up once per stage.
      resampled_(kPiece * kWireRate / static_cast<std::size_t>(resampler_.in_rate()) + 4),
      silence_(kPiece, 0.0f) {}

Result<CaptureChain> CaptureChain::create(int context_rate_hz, Plan plan) {
  if (auto s = check_sample_rate(context_rate_hz, "context_rate"); !s) return std::move(s).error();
  auto resampler = Resampler::create(context_rate_hz, kWireRate, plan);
  if (!resampler) return std::move(resampler).error();
  return CaptureChain(std::move(resampler).value());
}

}  // namespace parley::audio
