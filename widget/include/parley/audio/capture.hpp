// Capture (DESIGN §7): Float32 quanta at the AudioContext's rate -> 16 kHz -> PCM16 ->
// 20 ms frames of 640 bytes, ready to send. While muted the same cadence of frames goes
// out, all zeros (the server keeps its timing; nothing of the room leaks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "parley/audio/framer.hpp"
#include "parley/audio/pcm16.hpp"
#include "parley/audio/resampler.hpp"
#include "parley/result.hpp"

namespace parley::audio {

class CaptureChain {
 public:
  // Errors: "bad_sample_rate" naming context_rate. `plan`: see Resampler (benchmarks
  // compare both; the default is the build's faster one).
  static Result<CaptureChain> create(int context_rate_hz, Plan plan = Plan::build_default);

  // Any number of samples; calls on_frame(const FrameView&) for each completed frame and
  // returns how many frames were completed.
  template <class OnFrame>
  std::size_t push(const float* samples, std::size_t count, OnFrame&& on_frame) {
    const std::uint64_t before = framer_.frames_out();
    while (count > 0) {
      const std::size_t n = count < kPiece ? count : kPiece;
      // While muted the resampler is fed silence rather than skipped: the frame cadence
      // stays exact, and unmuting starts from a clean history, not the room before the mute.
      // The frames get exact zeros (not the filter's tail of the room): silence_ again.
      const float* in = muted_ ? silence_.data() : samples;
      const std::size_t made = resampler_.process_unchecked(in, n, resampled_.data());
      framer_.push_float(muted_ ? silence_.data() : resampled_.data(), made, on_frame);
      samples += n;
      count -= n;
    }
    return static_cast<std::size_t>(framer_.frames_out() - before);
  }

  void set_muted(bool muted) noexcept { muted_ = muted; }
  bool muted() const noexcept { return muted_; }
  int context_rate() const noexcept { return resampler_.in_rate(); }
  const Framer& framer() const noexcept { return framer_; }
  const Resampler& resampler() const noexcept { return resampler_; }

 private:
  CaptureChain(Resampler resampler);
  static constexpr std::size_t kPiece = 1024;  // context-rate samples converted per step

  Resampler resampler_;
  std::vector<float> resampled_;  // room for what kPiece samples make
  std::vector<float> silence_;  // kPiece zeros, fed to the resampler and framer while muted
  Framer framer_;
  bool muted_ = false;
};

}  // namespace parley::audio
